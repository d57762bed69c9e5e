"""Correcting label shares for the classifier's own errors, given its confusion matrix from validation.

``confusion[i, j]`` counts validation images of true label i that the
classifier decided j, over the labels it decides; abstention (``unknown``)
is not a column of it but its own rate per true label, ``a_i``
(:func:`split_confusion`). The shares of decided labels among the images
the classifier decided are ``o = M.T @ s`` with ``M`` the row-normalised
matrix and ``s_i`` proportional to ``t_i (1 - a_i)``; the corrected shares
``t`` of the true labels among all images solve that, projected onto the
probability simplex. So a classifier that abstains more on one label than
on another is corrected for that too, and an abstention column cannot make
an ill-conditioned matrix look well-conditioned: with it, a classifier that
abstains on most images of every label has an almost diagonal matrix
however badly it tells the labels apart among the images it decides.

A matrix over the decided labels that is nearly singular (a classifier
that barely tells the labels apart) is refused (:func:`check_conditioning`):
its inverse would multiply the sampling noise many times over and the
corrected shares would mean nothing. A true label on which the classifier
always abstained is refused too: no decision says anything of its share.

Judging corrected shares (:func:`corrected_limit_tests`) uses the
parametric bootstrap of :func:`corrected_intervals`, so the uncertainty of
the confusion matrix itself is part of every p-value and bound.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


def project_to_simplex(v) -> np.ndarray:
    """The nearest point (Euclidean) of the probability simplex to each vector on the last axis (Duchi et al. 2008)."""
    v = np.asarray(v, float)
    k = v.shape[-1]
    u = -np.sort(-v, axis=-1)
    cssv = np.cumsum(u, axis=-1) - 1
    ind = np.arange(1, k + 1)
    cond = u - cssv / ind > 0
    rho = k - 1 - np.argmax(cond[..., ::-1], axis=-1)  # last index where cond holds
    theta = np.take_along_axis(cssv, rho[..., None], axis=-1) / (rho[..., None] + 1)
    return np.maximum(v - theta, 0.0)


# Above this condition number (largest over smallest singular value of the rates) a correction is refused.
MAX_CONDITION = 10.0


def check_conditioning(confusion, *, what: str = "the confusion matrix") -> float:
    """The condition number of the row-normalised confusion matrix over the decided labels; ValueError when it
    is near-singular or a true label has no decided image."""
    rows = np.asarray(confusion, float).sum(axis=-1)
    if np.any(rows == 0):
        raise ValueError(
            f"{what} has a true label on which the classifier decided no validation image (it always abstained): "
            "no decision speaks for that label's share"
        )
    rates = _rates(confusion)
    singular = np.linalg.svd(rates, compute_uv=False)
    condition = float(singular[0] / singular[-1]) if singular[-1] > 0 else float("inf")
    if condition > MAX_CONDITION:
        raise ValueError(
            f"{what} is near-singular (condition number {condition:.3g} > {MAX_CONDITION:g}): the classifier "
            "barely tells these labels apart, so correcting for its errors would amplify noise; "
            "validate a better classifier or judge the uncorrected shares"
        )
    return condition


def _rates(confusion, *, strict: bool = True) -> np.ndarray:
    confusion = np.asarray(confusion, float)
    rows = confusion.sum(axis=-1, keepdims=True)
    if np.any(rows == 0):
        if strict:
            raise ValueError(
                "every true label needs at least one validation image the classifier decided in the confusion matrix"
            )
        # A resampled row with no decided image says nothing of where that label goes: every label alike.
        return np.where(rows == 0, 1.0 / confusion.shape[-1], confusion / np.where(rows == 0, 1, rows))
    return confusion / rows


@dataclasses.dataclass(frozen=True)
class SplitConfusion:
    """A validation's confusion counts split into the decided labels' matrix and the abstentions per true label."""

    labels: list[str]  # the true labels, which are also the decided labels, in this order
    decided: np.ndarray  # (k, k) counts: true label x decided label
    abstained: np.ndarray  # (k,) counts: images of each true label the classifier abstained on

    @property
    def abstention_rates(self) -> np.ndarray:
        totals = self.decided.sum(axis=1) + self.abstained
        return np.divide(self.abstained, totals, out=np.zeros(len(totals)), where=totals > 0)


def split_confusion(summary: dict) -> SplitConfusion:
    """The decided-label matrix and per-label abstentions of a validation summary (``labels``,
    ``predicted_labels`` with ``unknown``, ``confusion_matrix``); ValueError when it cannot be corrected with:
    a decided label that no validation image truly has, or a matrix of the wrong shape."""
    from audit.core.constants import UNKNOWN

    true_labels = [str(x) for x in summary["labels"]]
    columns = [str(x) for x in summary["predicted_labels"]]
    counts = np.asarray(summary["confusion_matrix"], dtype=np.int64)
    if counts.shape != (len(true_labels), len(columns)):
        raise ValueError(
            f"confusion_matrix is {counts.shape}, expected {len(true_labels)} labels x {len(columns)} predicted labels"
        )
    strange = [c for j, c in enumerate(columns) if c != UNKNOWN and c not in true_labels and counts[:, j].sum() > 0]
    if strange:
        raise ValueError(
            f"the classifier decided {', '.join(strange)} on validation images, but no validation image is truly "
            "that label: the matrix over decided labels is not square"
        )
    decided = np.zeros((len(true_labels), len(true_labels)), dtype=np.int64)
    for j, label in enumerate(true_labels):
        if label in columns:
            decided[:, j] = counts[:, columns.index(label)]
    abstained = counts[:, columns.index(UNKNOWN)] if UNKNOWN in columns else np.zeros(len(true_labels), np.int64)
    return SplitConfusion(true_labels, decided, abstained)


def corrected_shares(observed_counts, confusion, abstained=None, *, strict: bool = True) -> np.ndarray:
    """Shares of the true labels behind ``observed_counts`` (of the decided labels), by matrix inversion
    projected onto the simplex; with ``abstained`` (validation images of each true label the classifier
    abstained on) the shares among all images, abstentions included, else among the decided ones."""
    observed = np.asarray(observed_counts, float)
    shares = observed / observed.sum(axis=-1, keepdims=True)
    rates = _rates(confusion, strict=strict)
    transposed = np.swapaxes(rates, -1, -2)
    try:
        if transposed.shape[-1] != transposed.shape[-2]:
            raise np.linalg.LinAlgError("not square")
        raw = np.linalg.solve(transposed, shares[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # Abstention columns make the system rectangular, and a confusion matrix resampled from little
        # validation data can be singular: least squares then.
        raw = np.einsum("...ij,...j->...i", np.linalg.pinv(transposed), shares)
    decided_shares = project_to_simplex(raw)
    if abstained is None:
        return decided_shares
    confusion = np.asarray(confusion, float)
    abstained = np.asarray(abstained, float)
    totals = confusion.sum(axis=-1) + abstained
    decided_rate = np.divide(totals - abstained, totals, out=np.ones_like(totals), where=totals > 0)
    # A resampled label with nothing decided: a share of it cannot be seen; it takes the rest (widest reading).
    weighted = decided_shares / np.maximum(decided_rate, 1e-9)
    return weighted / weighted.sum(axis=-1, keepdims=True)


def rogan_gladen(observed_share, sensitivity, specificity) -> np.ndarray:
    """Rogan-Gladen prevalence from an observed positive share, clipped to [0, 1]."""
    observed_share = np.asarray(observed_share, float)
    youden = np.asarray(sensitivity, float) + np.asarray(specificity, float) - 1
    if np.any(youden <= 0):
        raise ValueError("sensitivity + specificity must exceed 1 for the correction to be defined")
    return np.clip((observed_share + specificity - 1) / youden, 0, 1)


def corrected_intervals(
    observed_counts,
    confusion,
    *,
    abstained=None,
    samples: int = 2000,
    confidence: float = 0.95,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Corrected shares with percentile intervals from a parametric bootstrap: (estimate, low, high).

    Each resample redraws the audit's label counts (multinomial at the
    observed shares) and every row of the confusion matrix (multinomial at
    its validation rates), so the interval carries both uncertainties.
    Leading axes of ``observed_counts`` and ``confusion`` are batches.
    """
    observed = np.asarray(observed_counts, dtype=np.int64)
    confusion = np.asarray(confusion, dtype=np.int64)
    for matrix in confusion.reshape(-1, *confusion.shape[-2:]):
        check_conditioning(matrix)
    estimate = corrected_shares(observed, confusion, abstained)
    n = observed.sum(axis=-1)
    obs_draw = rng.multinomial(n, observed / n[..., None], size=(samples, *n.shape))
    conf_draw, abst_draw = _resampled_validation(confusion, abstained, samples, rng)
    boot = corrected_shares(obs_draw, conf_draw, abst_draw, strict=False)
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail], axis=0)
    return estimate, low, high


def corrected_draws(observed_counts, confusion, *, abstained=None, samples: int, rng: np.random.Generator):
    """The corrected shares of one group and ``samples`` parametric-bootstrap draws of them: (estimate, draws).

    ``observed_counts`` and ``confusion`` are over the decided labels; ``abstained`` the validation images of
    each true label the classifier abstained on (:func:`split_confusion`)."""
    observed = np.asarray(observed_counts, dtype=np.int64)
    confusion = np.asarray(confusion, dtype=np.int64)
    check_conditioning(confusion)
    n = int(observed.sum())
    obs_draw = rng.multinomial(n, observed / n, size=samples)
    conf_draw, abst_draw = _resampled_validation(confusion, abstained, samples, rng)
    return (
        corrected_shares(observed, confusion, abstained),
        corrected_shares(obs_draw, conf_draw, abst_draw, strict=False),
    )


def _resampled_validation(confusion: np.ndarray, abstained, samples: int, rng: np.random.Generator):
    """Each validation row redrawn (multinomial at its rates, abstention included): (decided counts, abstained)."""
    if abstained is None:
        rows = confusion.sum(axis=-1)
        return rng.multinomial(rows, _rates(confusion), size=(samples, *rows.shape)), None
    abstained = np.broadcast_to(np.asarray(abstained, dtype=np.int64), confusion.shape[:-1])
    full = np.concatenate([confusion, abstained[..., None]], axis=-1)
    rows = full.sum(axis=-1)
    draw = rng.multinomial(rows, _rates(full), size=(samples, *rows.shape))
    return draw[..., :-1], draw[..., -1]


def corrected_limit_tests(estimate, draws, reference, limit: float, *, label: int | None = None) -> dict[str, Any]:
    """Percentile-bootstrap tests of a corrected share (``label``) or of the corrected TV from ``reference``.

    The draws carry the uncertainty of the confusion matrix. For one label's
    share: p_beyond is the bootstrap share of draws at or below the limit
    (H0: share <= limit), p_within of draws at or above it, each as
    (1 + count) / (1 + draws). For TV, the largest excess p(S) - q(S) over label
    subsets S: evidence of harm needs one subset beyond the limit (Bonferroni
    over the subsets), evidence of safety every subset within it (the largest
    of their p-values). Bounds are the matching percentiles, so a bound beyond
    the limit and a p-value within alpha agree. Returns the value, the
    p-values, the two-sided 95% ``interval`` and ``bounds(confidence)``, the
    one-sided (lower, upper) bounds. The smallest p-value is 1 / (1 + draws):
    draw enough for the multiplicity of the check (:func:`bootstrap_draws`).
    """
    estimate = np.asarray(estimate, float)
    draws = np.asarray(draws, float)
    if label is not None:
        family = draws[:, [label]]
        value = float(estimate[label])
        floor = -np.inf
    else:
        reference = np.asarray(reference, float)
        k = len(reference)
        subsets = np.array([[(m >> j) & 1 for j in range(k)] for m in range(1, 2**k - 1)], dtype=float)
        family = draws @ subsets.T - subsets @ reference  # each subset's excess over its reference
        value = float(0.5 * np.abs(estimate - reference).sum())
        floor = 0.0
    b, m = family.shape

    def bounds(confidence: float) -> tuple[float, float]:
        lower = np.quantile(family, (1 - confidence) / m, axis=0).max()
        upper = np.quantile(family, confidence, axis=0).max()
        return max(float(lower), floor), max(float(upper), floor)

    beyond = (1 + (family <= limit).sum(axis=0)) / (1 + b)
    within = (1 + (family >= limit).sum(axis=0)) / (1 + b)
    return {
        "value": value,
        "p_beyond": float(min(1.0, m * beyond.min())),
        "p_within": float(within.max()),
        "interval": bounds(0.975),
        "bounds": bounds,
    }


def bootstrap_draws(groups: int, alpha: float, *, least: int = 2000, most: int = 50_000) -> int:
    """Draws enough for a percentile p-value to reach BH's smallest step alpha / groups (within ``most``)."""
    return int(min(most, max(least, np.ceil(20 * groups / alpha))))


def corrected_distributions(
    labels,
    validation: dict,
    *,
    by,
    categories=None,
    samples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
):
    """Corrected label shares per group for the attributes a validation summary covers.

    ``validation`` maps ``(classifier, attribute)`` to a classifier
    validation summary (the JSON ``diffaudit validate-classifier`` writes:
    ``labels`` = true labels, ``predicted_labels`` = its columns, ``unknown``
    included, ``confusion_matrix`` = counts). One row per (group, true label)
    with the observed share among answered images, the corrected share among
    all images (abstentions corrected for as a rate per true label) and its
    parametric-bootstrap interval, and the condition number of the matrix
    over decided labels. Where no correction can be made (the guard refuses
    the matrix, the run decided a label the validation never saw) the
    corrected columns are empty and ``reason`` says why.
    """
    import pandas as pd

    from audit.stats.distributions import group_counts

    rng = np.random.default_rng(seed)
    frames = []
    for gc in group_counts(labels, by=by, categories=categories):
        summary = validation.get((gc.classifier, gc.attribute))
        if summary is None:
            continue
        reason, condition = None, None
        try:
            split = split_confusion(summary)
            condition = check_conditioning(split.decided, what="the matrix over the labels the classifier decides")
        except ValueError as exc:
            split = None
            reason = str(exc)
        true_labels = split.labels if split is not None else [str(x) for x in summary["labels"]]
        strange = [
            lab for lab in gc.labels if lab not in true_labels and gc.counts[:, gc.labels.index(lab)].sum() > 0
        ]
        if strange and reason is None:
            reason = (
                f"the run has images decided {', '.join(strange)}, a label no validation image is "
                f"(it has {', '.join(true_labels)})"
            )
        observed = np.zeros((len(gc.keys), len(true_labels)), dtype=np.int64)
        for j, label in enumerate(gc.labels):
            if label in true_labels:
                observed[:, true_labels.index(label)] = gc.counts[:, j]
        keep = observed.sum(axis=1) > 0
        if not keep.any():
            continue
        k = len(true_labels)
        estimate = low = high = np.full((int(keep.sum()), k), np.nan)
        if reason is None:
            m = int(keep.sum())
            estimate, low, high = corrected_intervals(
                observed[keep],
                np.broadcast_to(split.decided, (m, k, k)),
                abstained=np.broadcast_to(split.abstained, (m, k)),
                samples=samples,
                confidence=confidence,
                rng=rng,
            )
        keys = gc.keys[keep].reset_index(drop=True)
        answered = gc.n[keep]
        frame = keys.loc[np.repeat(np.arange(len(keys)), k)].reset_index(drop=True)
        frame["classifier"] = gc.classifier
        frame["attribute"] = gc.attribute
        frame["label"] = np.tile(true_labels, len(keys))
        observed_share = np.zeros((len(keys), k))
        for i, label in enumerate(true_labels):
            if label in gc.labels:
                with np.errstate(invalid="ignore", divide="ignore"):
                    observed_share[:, i] = gc.counts[keep, gc.labels.index(label)] / answered
        frame["n"] = np.repeat(answered, k)
        frame["n_unknown"] = np.repeat(gc.unknown[keep], k)
        frame["observed_share"] = observed_share.ravel()
        frame["corrected_share"] = np.asarray(estimate).ravel()
        frame["ci_low"] = np.asarray(low).ravel()
        frame["ci_high"] = np.asarray(high).ravel()
        frame["condition"] = condition
        frame["reason"] = reason
        frames.append(frame)
    if not frames:
        return pd.DataFrame(
            columns=[*by, "classifier", "attribute", "label", "corrected_share", "ci_low", "ci_high", "reason"]
        )
    return pd.concat(frames, ignore_index=True)
