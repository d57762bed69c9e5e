"""Two runs of the same prompts and seeds, image by image: how a mitigation changed the labels, and what it cost.

When a mitigated run shares its (prompt, seed) pairs with its baseline, each
pair is one unit: the same noise, with and without the mitigation. The
statistics here are paired:

- the change in the share of a label: Tango's score interval for a
  difference of paired proportions (Tango 1998) and McNemar's exact test on
  the discordant pairs;
- the change in a distance from a reference (TV, max gap): a percentile
  bootstrap over pairs for the interval and a sign-flip permutation test
  (swapping the two images of each pair) for the p-value;
- what the mitigation cost: the cosine distance between the two images'
  embeddings, and how often a label the baseline image had (a person, the
  occupation's cue) is lost.

A pair where either image abstains on an attribute is left out of that
attribute's comparison and counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize, stats

from audit.core.constants import UNKNOWN
from audit.stats.intervals import wilson_interval
from audit.stats.paired import mcnemar_exact

PAIR_KEYS = ("item_id", "seed", "classifier", "attribute")


def paired_difference_interval(
    both: int, only_m: int, only_b: int, neither: int, confidence: float = 0.95
) -> tuple[float, float, float]:
    """The difference of paired proportions p_m - p_b with Tango's score interval (Tango 1998).

    ``both``: pairs with the label in both images; ``only_m``: in the
    mitigated image only; ``only_b``: in the baseline image only;
    ``neither``: in neither. The interval inverts the score test of a given
    difference, with the nuisance cell at its restricted maximum-likelihood
    value; it stays inside [-1, 1] and keeps its level at small n and with
    strongly correlated pairs, where Wald and Newcombe's hybrid intervals fall short.
    Returns (difference, low, high).
    """
    n = both + only_m + only_b + neither
    if n == 0:
        return math.nan, -1.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    b, c = only_m, only_b

    def score(delta: float) -> float:
        a_, b_ = 2 * n, -b - c + (2 * n - b + c) * delta
        c_ = -c * delta * (1 - delta)
        q21 = (math.sqrt(max(b_ * b_ - 4 * a_ * c_, 0.0)) - b_) / (2 * a_)
        variance = n * (2 * q21 + delta * (1 - delta))
        gap = b - c - n * delta
        if variance <= 0:
            return math.copysign(math.inf, gap) if gap else 0.0
        return gap / math.sqrt(variance)

    estimate = (b - c) / n
    edge = 1 - 1e-12
    low = -1.0 if score(-edge) <= z else float(optimize.brentq(lambda d: score(d) - z, -edge, estimate))
    high = 1.0 if score(edge) >= -z else float(optimize.brentq(lambda d: score(d) + z, estimate, edge))
    return estimate, low, high


def pair_labels(baseline: pd.DataFrame, mitigated: pd.DataFrame) -> pd.DataFrame:
    """The two runs' per-image labels side by side, one row per (item, seed, classifier, attribute) in both.

    Columns: the pair keys, ``label_b``/``prob_b`` (baseline), ``label_m``/``prob_m``
    (mitigated), ``record_b``/``record_m``, and the baseline's probe columns
    (suite, prompt, template, the probe's attributes).
    """
    keys = list(PAIR_KEYS)
    probe_columns = [c for c in baseline.columns if c not in (*keys, "record_id", "label", "prob")]
    left = baseline.rename(columns={"label": "label_b", "prob": "prob_b", "record_id": "record_b"})
    right = mitigated.loc[:, [*keys, "record_id", "label", "prob"]].rename(
        columns={"label": "label_m", "prob": "prob_m", "record_id": "record_m"}
    )
    merged = left.merge(right, on=keys, how="inner")
    return merged.loc[:, [*keys, "record_b", "record_m", "label_b", "prob_b", "label_m", "prob_m", *probe_columns]]


def _judged(pairs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    keep = (pairs["label_b"] != UNKNOWN) & (pairs["label_m"] != UNKNOWN)
    return pairs[keep], int((~keep).sum())


def share_changes(
    pairs: pd.DataFrame, *, by: Sequence[str], labels: Sequence[str] | None = None, confidence: float = 0.95
) -> pd.DataFrame:
    """Per group, classifier, attribute and label: the share in each run, its paired change with interval, McNemar p.

    Only pairs where neither image abstained count (``n_pairs``); the others
    are counted in ``n_abstained``.
    """
    rows = []
    for key, group in pairs.groupby([*by, "classifier", "attribute"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        judged, abstained = _judged(group)
        names = list(labels) if labels is not None else sorted(set(judged["label_b"]) | set(judged["label_m"]))
        for label in names:
            in_b = (judged["label_b"] == label).to_numpy()
            in_m = (judged["label_m"] == label).to_numpy()
            both, only_m, only_b = int((in_b & in_m).sum()), int((~in_b & in_m).sum()), int((in_b & ~in_m).sum())
            neither = len(judged) - both - only_m - only_b
            change, low, high = paired_difference_interval(both, only_m, only_b, neither, confidence)
            rows.append(
                {
                    **dict(zip([*by, "classifier", "attribute"], key, strict=True)),
                    "label": label,
                    "n_pairs": len(judged),
                    "n_abstained": abstained,
                    "share_baseline": (both + only_b) / len(judged) if len(judged) else math.nan,
                    "share_mitigated": (both + only_m) / len(judged) if len(judged) else math.nan,
                    "change": change,
                    "change_low": low,
                    "change_high": high,
                    "gained": only_m,
                    "lost": only_b,
                    "p_value": mcnemar_exact(only_m, only_b) if len(judged) else math.nan,
                    "test": "mcnemar exact",
                }
            )
    return pd.DataFrame(rows)


def distance_change(
    labels_b: np.ndarray,
    labels_m: np.ndarray,
    categories: Sequence[str],
    reference: np.ndarray,
    metric: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    rng: np.random.Generator,
    resamples: int = 2000,
    confidence: float = 0.95,
) -> dict[str, float]:
    """The change of a distance (TV, max gap) from ``reference`` between the paired label arrays of one group.

    Interval: percentile bootstrap over pairs. p-value: sign-flip permutation
    test of the hypothesis that the mitigation changed nothing (each pair's
    two images exchangeable), two-sided.
    """
    labels_b, labels_m = np.asarray(labels_b), np.asarray(labels_m)
    n = len(labels_b)
    index = {label: j for j, label in enumerate(categories)}
    codes_b = np.array([index[v] for v in labels_b], dtype=int)
    codes_m = np.array([index[v] for v in labels_m], dtype=int)
    k = len(categories)

    def distance(codes: np.ndarray) -> np.ndarray:
        # codes: (draws, n) → the distance of each draw's label shares from the reference.
        counts = np.stack([(codes == j).sum(axis=-1) for j in range(k)], axis=-1)
        return metric(counts / max(n, 1), reference)

    value_b = float(distance(codes_b[None])[0])
    value_m = float(distance(codes_m[None])[0])
    out = {"n_pairs": n, "baseline": value_b, "mitigated": value_m, "change": value_m - value_b}
    if n == 0:
        return {**out, "change_low": math.nan, "change_high": math.nan, "p_value": math.nan}
    draws = rng.integers(0, n, size=(resamples, n))
    boot = distance(codes_m[draws]) - distance(codes_b[draws])
    tail = (1 - confidence) / 2
    out["change_low"], out["change_high"] = (float(v) for v in np.quantile(boot, [tail, 1 - tail]))
    flips = rng.integers(0, 2, size=(resamples, n)).astype(bool)
    perm_m = np.where(flips, codes_b[None], codes_m[None])
    perm_b = np.where(flips, codes_m[None], codes_b[None])
    null = distance(perm_m) - distance(perm_b)
    observed = abs(out["change"])
    out["p_value"] = float((1 + np.sum(np.abs(null) >= observed - 1e-12)) / (1 + resamples))
    return out


def embedding_distances(
    embeddings_b: pd.DataFrame, embeddings_m: pd.DataFrame, pairs: pd.DataFrame, *, by: Sequence[str]
) -> pd.DataFrame:
    """How far each image moved: the cosine distance between the paired images' embeddings, per group.

    ``embeddings_*``: tables of (record_id, classifier, embedding); ``pairs``: a
    :func:`pair_labels` table (for the record ids and groups). One row per
    group and classifier: ``n_pairs``, ``mean_distance`` with a t interval,
    ``median_distance``.
    """
    keys = pairs.loc[:, [*by, "record_b", "record_m"]].drop_duplicates(["record_b", "record_m"])
    b = embeddings_b.rename(columns={"record_id": "record_b", "embedding": "vector_b"})
    m = embeddings_m.rename(columns={"record_id": "record_m", "embedding": "vector_m"})
    merged = keys.merge(b, on="record_b").merge(m, on=["record_m", "classifier"])
    rows = []
    for key, group in merged.groupby([*by, "classifier"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        vb = np.stack([np.asarray(v, float) for v in group["vector_b"]])
        vm = np.stack([np.asarray(v, float) for v in group["vector_m"]])
        cosine = (vb * vm).sum(axis=1) / (np.linalg.norm(vb, axis=1) * np.linalg.norm(vm, axis=1))
        distance = 1.0 - cosine
        mean = float(distance.mean())
        if len(distance) > 1:
            half = float(stats.t.ppf(0.975, len(distance) - 1) * stats.sem(distance))
        else:
            half = math.nan
        rows.append(
            {
                **dict(zip([*by, "classifier"], key, strict=True)),
                "n_pairs": len(distance),
                "mean_distance": mean,
                "distance_low": mean - half,
                "distance_high": mean + half,
                "median_distance": float(np.median(distance)),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[*by, "classifier", "n_pairs", "mean_distance", "distance_low", "distance_high", "median_distance"],
    )


def label_loss(
    pairs: pd.DataFrame, *, expected: str | Callable[[pd.DataFrame], pd.Series], by: Sequence[str] = ()
) -> pd.DataFrame:
    """How often the mitigated image lost a label its baseline image had (a person; the occupation's cue).

    ``expected``: the label that counts as present (``"yes"``), or a function
    of the pairs table giving each pair's expected label (its occupation).
    Among pairs whose baseline image has it: ``lost`` (the mitigated image
    does not) with the Wilson interval of the loss rate; abstentions of the
    mitigated image count as lost (the cue can no longer be seen).
    """
    target = pairs["label_b"].map(lambda _: expected) if isinstance(expected, str) else expected(pairs)
    had = pairs[(pairs["label_b"] == target).to_numpy()]
    kept_target = target[(pairs["label_b"] == target).to_numpy()]
    rows = []
    groups = had.groupby([*by, "classifier", "attribute"], sort=True, dropna=False) if len(had) else []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        lost = int((group["label_m"] != kept_target.loc[group.index]).sum())
        low, high = wilson_interval(lost, len(group))
        rows.append(
            {
                **dict(zip([*by, "classifier", "attribute"], key, strict=True)),
                "n_with_label": len(group),
                "lost": lost,
                "loss_rate": lost / len(group),
                "loss_low": float(low),
                "loss_high": float(high),
            }
        )
    return pd.DataFrame(
        rows, columns=[*by, "classifier", "attribute", "n_with_label", "lost", "loss_rate", "loss_low", "loss_high"]
    )
