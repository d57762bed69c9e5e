"""Deviation of a label distribution from a reference: distances with intervals and a goodness-of-fit test.

The intervals of TV and max gap invert the tests of
:mod:`audit.stats.distance_limits`, so they cover at distance 0 and small n;
KL has no interval. The goodness-of-fit p-value tests exact equality with
the reference: descriptive, not a verdict (the checks test distance limits).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import special, stats

from audit.stats.distance_limits import DISTANCES, binary_interval, interval
from audit.stats.distributions import GroupCounts, group_counts
from audit.stats.multiple_testing import benjamini_hochberg
from audit.stats.reference import Reference

# Below this expected count in any category the chi-square approximation is not trusted.
MIN_EXPECTED = 5.0
# A reference share of 0 (a BLS row of 0%: below the survey's resolution) is raised to this before the
# goodness-of-fit test, so one image of that label is unlikely, not impossible.
REFERENCE_FLOOR = 0.001
# Largest number of possible outcomes the exact multinomial test enumerates (all n for two labels,
# n <= 197 for three, n <= 47 for four); beyond it chi-square or Monte-Carlo.
EXACT_LIMIT = 20_000


def tv_distance(p, q) -> np.ndarray:
    """Total variation distance, half the L1 distance, over the last axis."""
    return 0.5 * np.abs(np.asarray(p, float) - np.asarray(q, float)).sum(axis=-1)


def kl_divergence(p, q) -> np.ndarray:
    """KL(p || q) in nats over the last axis; 0·log 0 is 0, and p > 0 where q = 0 gives inf."""
    p = np.asarray(p, float)
    q = np.asarray(q, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    return terms.sum(axis=-1)


def max_gap(p, q) -> np.ndarray:
    """The largest absolute difference between a share and its reference, over the last axis."""
    return np.abs(np.asarray(p, float) - np.asarray(q, float)).max(axis=-1)


METRICS = {"tv": tv_distance, "kl": kl_divergence, "max_gap": max_gap}


def normalised_entropy(p) -> np.ndarray:
    """Shannon entropy divided by log k: 1 for a uniform distribution, 0 when one label takes all."""
    p = np.asarray(p, float)
    k = p.shape[-1]
    if k < 2:
        return np.zeros(p.shape[:-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=-1)
    return h / math.log(k)


def mean_absolute_deviation(p) -> np.ndarray:
    """DALL-Eval's bias score: mean over the k labels of |share - 1/k| (shares exclude abstentions)."""
    p = np.asarray(p, float)
    return np.abs(p - 1.0 / p.shape[-1]).mean(axis=-1)


def heim_deviation(counts, unknown) -> np.ndarray:
    """HEIM's imbalance: mean over labels of |count / all images - 1/k|, abstentions kept in the denominator."""
    counts = np.asarray(counts, float)
    total = counts.sum(axis=-1) + np.asarray(unknown, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(total[..., None] > 0, counts / total[..., None], 0.0)
    return np.abs(frac - 1.0 / counts.shape[-1]).mean(axis=-1)


def _compositions(n: int, k: int) -> np.ndarray:
    """Every vector of k non-negative integers summing to n (stars and bars)."""
    bars = np.array(list(itertools.combinations(range(n + k - 1), k - 1)), dtype=np.int64).reshape(-1, k - 1)
    edges = np.concatenate([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), n + k - 1)], axis=1)
    return np.diff(edges, axis=1) - 1


def _logpmf(counts: np.ndarray, n: int, q: np.ndarray) -> np.ndarray:
    """Multinomial log-probabilities of count vectors on the last axis."""
    counts = np.asarray(counts, float)
    return special.gammaln(n + 1) - special.gammaln(counts + 1).sum(axis=-1) + (counts * np.log(q)).sum(axis=-1)


@functools.lru_cache(maxsize=256)
def _exact_table(n: int, q: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Every outcome's log-probability, sorted, and the running sum of probabilities: one table per (n, q).

    Groups with the same size and reference (parity, most often) share it, so
    a run with hundreds of prompts enumerates once.
    """
    logpmf = np.sort(_logpmf(_compositions(n, len(q)), n, np.asarray(q)))
    return logpmf, np.cumsum(np.exp(logpmf))


def goodness_of_fit(
    counts,
    expected_shares,
    *,
    rng: np.random.Generator | None = None,
    mc_samples: int = 20_000,
) -> tuple[float, float, str]:
    """Test whether ``counts`` were drawn from ``expected_shares``: (statistic, p-value, method).

    The exact multinomial test (the probability of outcomes no more likely
    than the one observed) whenever the outcomes are few enough to enumerate
    -- always for two labels, where it is the exact binomial test. With many
    outcomes: Pearson's chi-square when every expected count is at least 5,
    the exact test estimated by Monte-Carlo when some are smaller. (The
    chi-square approximation rejects too often at small levels with
    moderate counts, which would let false discoveries through BH.)
    """
    counts = np.asarray(counts, dtype=np.int64)
    q = np.asarray(expected_shares, float)
    n = int(counts.sum())
    if n == 0 or np.isnan(q).any():
        return float("nan"), float("nan"), "none"
    floored = bool(np.any((q < REFERENCE_FLOOR) & (counts > 0)))
    if floored:
        q = np.where(q < REFERENCE_FLOOR, REFERENCE_FLOOR, q)
    keep = q > 0
    counts, q = counts[keep], q[keep] / q[keep].sum()
    k = len(counts)
    note = f" (reference shares floored at {REFERENCE_FLOOR:g})" if floored else ""
    if k < 2:
        return 0.0, 1.0, "none"
    observed = float(_logpmf(counts, n, q))
    # Relative tolerance so outcomes exactly as likely as the observed one count, despite rounding.
    cutoff = observed + 1e-7 * max(1.0, abs(observed))
    if math.comb(n + k - 1, k - 1) <= EXACT_LIMIT:
        logpmf, cumulative = _exact_table(n, tuple(np.round(q, 12)))
        at = int(np.searchsorted(logpmf, cutoff, side="right"))
        p = float(cumulative[at - 1]) if at > 0 else 0.0
        return -observed, min(p, 1.0), "exact multinomial" + note
    if (n * q).min() >= MIN_EXPECTED:
        expected = n * q
        statistic = float(((counts - expected) ** 2 / expected).sum())
        return statistic, float(stats.chi2.sf(statistic, k - 1)), "chi-square" + note
    rng = rng if rng is not None else np.random.default_rng(0)
    sims = rng.multinomial(n, q, size=mc_samples)
    p = (1 + int((_logpmf(sims, n, q) <= cutoff).sum())) / (1 + mc_samples)
    return -observed, p, "monte-carlo multinomial" + note


def deviation_rows(
    gc: GroupCounts,
    reference: Reference,
    *,
    confidence: float = 0.95,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """One row per group of ``gc``: distances from ``reference`` with intervals, the test, and the published scores."""
    expected = reference.shares(gc)
    n = gc.n
    with np.errstate(invalid="ignore", divide="ignore"):
        p_hat = gc.counts / n[:, None]
    frame = gc.keys.copy()
    frame["classifier"] = gc.classifier
    frame["attribute"] = gc.attribute
    frame["reference"] = reference.describe()
    frame["expected"] = [
        "" if np.isnan(row).any() else ", ".join(f"{lab}={v:.3f}" for lab, v in zip(gc.labels, row, strict=True))
        for row in expected
    ]
    frame["n"] = n
    frame["n_unknown"] = gc.unknown
    usable = (n > 0) & ~np.isnan(expected).any(axis=1)
    safe_expected = np.where(usable[:, None], expected, 1.0 / max(len(gc.labels), 1))
    for name, metric in METRICS.items():
        frame[name] = np.where(usable, metric(p_hat, safe_expected), np.nan)
    for name in DISTANCES:
        if len(gc.labels) == 2:
            low, high = binary_interval(gc.counts[:, 0], n, safe_expected[:, 0] / safe_expected.sum(axis=1), confidence)
        elif len(gc.labels) == 1:  # every image has the one label: exactly at its reference
            low, high = np.zeros(len(n)), np.zeros(len(n))
        else:
            bounds = [
                interval(c, e, confidence, name) if ok else (np.nan, np.nan)
                for c, e, ok in zip(gc.counts, safe_expected, usable, strict=True)
            ]
            low, high = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
        frame[f"{name}_low"] = np.where(usable, low, np.nan)
        frame[f"{name}_high"] = np.where(usable, high, np.nan)
    gaps = np.abs(np.nan_to_num(p_hat) - safe_expected)
    frame["max_gap_label"] = [gc.labels[j] if ok else None for j, ok in zip(gaps.argmax(axis=1), usable, strict=True)]
    frame["normalised_entropy"] = np.where(n > 0, normalised_entropy(np.nan_to_num(p_hat)), np.nan)
    frame["mad"] = np.where(n > 0, mean_absolute_deviation(np.nan_to_num(p_hat)), np.nan)
    frame["heim_deviation"] = np.where(n + gc.unknown > 0, heim_deviation(gc.counts, gc.unknown), np.nan)
    tests = [
        goodness_of_fit(c, e, rng=rng) if ok else (np.nan, np.nan, "none")
        for c, e, ok in zip(gc.counts, expected, usable, strict=True)
    ]
    frame["test"] = [t[2] for t in tests]
    frame["statistic"] = [t[0] for t in tests]
    frame["p_value"] = [t[1] for t in tests]
    frame["evidence"] = gc.records
    return frame


def deviations(
    labels: pd.DataFrame,
    *,
    by: Sequence[str],
    reference: Reference | None = None,
    categories: Mapping[tuple[str, str], Sequence[str]] | None = None,
    attributes: Sequence[str] | None = None,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Deviation of each group's distribution from ``reference`` (parity by default), for every attribute.

    Columns: the grouping columns, classifier, attribute, reference, expected,
    n, n_unknown, tv/kl/max_gap, tv and max_gap ``_low``/``_high`` bounds (test inversion),
    max_gap_label, normalised_entropy, mad (DALL-Eval), heim_deviation,
    test, statistic, p_value, p_adjusted (Benjamini-Hochberg over every row
    of the table) and evidence (record ids).
    """
    reference = reference or Reference.parity()
    rng = np.random.default_rng(seed)
    frames = [
        deviation_rows(gc, reference, confidence=confidence, rng=rng)
        for gc in group_counts(labels, by=by, categories=categories, attributes=attributes)
    ]
    if not frames:
        return pd.DataFrame(columns=[*by, "classifier", "attribute", "n", "tv", "p_value", "p_adjusted"])
    table = pd.concat(frames, ignore_index=True)
    table["p_adjusted"] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float))
    return table
