"""Correcting label shares for the classifier's own errors, given its confusion matrix from validation.

``confusion[i, j]`` counts validation images of true label i that the
classifier called j. Observed shares are ``o = M.T @ t`` with ``M`` the
row-normalised confusion matrix; the corrected shares solve that for ``t``
and are projected onto the probability simplex. The columns may include
``unknown`` (abstention) besides the true labels: the system is then solved
by least squares, so a classifier that abstains more on one label than on
another is corrected for that too.

A confusion matrix that is nearly singular (a classifier that barely tells
the labels apart) is refused (:func:`check_conditioning`): its inverse
would multiply the sampling noise many times over and the corrected shares
would mean nothing.

Judging corrected shares (:func:`corrected_limit_tests`) uses the
parametric bootstrap of :func:`corrected_intervals`, so the uncertainty of
the confusion matrix itself is part of every p-value and bound.
"""

from __future__ import annotations

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
    """The condition number of the row-normalised confusion matrix; ValueError when it is near-singular."""
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


def _rates(confusion) -> np.ndarray:
    confusion = np.asarray(confusion, float)
    rows = confusion.sum(axis=-1, keepdims=True)
    if np.any(rows == 0):
        raise ValueError("every true label needs at least one validation image in the confusion matrix")
    return confusion / rows


def corrected_shares(observed_counts, confusion) -> np.ndarray:
    """Shares of the true labels behind ``observed_counts``, by matrix inversion projected onto the simplex."""
    observed = np.asarray(observed_counts, float)
    shares = observed / observed.sum(axis=-1, keepdims=True)
    rates = _rates(confusion)
    transposed = np.swapaxes(rates, -1, -2)
    try:
        if transposed.shape[-1] != transposed.shape[-2]:
            raise np.linalg.LinAlgError("not square")
        raw = np.linalg.solve(transposed, shares[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # Abstention columns make the system rectangular, and a confusion matrix resampled from little
        # validation data can be singular: least squares then.
        raw = np.einsum("...ij,...j->...i", np.linalg.pinv(transposed), shares)
    return project_to_simplex(raw)


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
    estimate = corrected_shares(observed, confusion)
    n = observed.sum(axis=-1)
    obs_draw = rng.multinomial(n, observed / n[..., None], size=(samples, *n.shape))
    rows = confusion.sum(axis=-1)
    conf_draw = rng.multinomial(rows, _rates(confusion), size=(samples, *rows.shape))
    boot = corrected_shares(obs_draw, conf_draw)
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail], axis=0)
    return estimate, low, high


def corrected_draws(observed_counts, confusion, *, samples: int, rng: np.random.Generator):
    """The corrected shares of one group and ``samples`` parametric-bootstrap draws of them: (estimate, draws)."""
    observed = np.asarray(observed_counts, dtype=np.int64)
    confusion = np.asarray(confusion, dtype=np.int64)
    check_conditioning(confusion)
    n = int(observed.sum())
    obs_draw = rng.multinomial(n, observed / n, size=samples)
    conf_draw = rng.multinomial(confusion.sum(axis=-1), _rates(confusion), size=(samples, len(confusion)))
    return corrected_shares(observed, confusion), corrected_shares(obs_draw, conf_draw)


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
    with the observed share among answered images, the corrected share and
    its parametric-bootstrap interval. An attribute whose confusion matrix is
    near-singular (:func:`check_conditioning`) is left out: its corrected
    shares would be noise, and a descriptive table must not stop the run.
    """
    import pandas as pd

    from audit.core.constants import UNKNOWN
    from audit.stats.distributions import group_counts

    rng = np.random.default_rng(seed)
    frames = []
    for gc in group_counts(labels, by=by, categories=categories):
        summary = validation.get((gc.classifier, gc.attribute))
        if summary is None:
            continue
        true_labels = list(summary["labels"])
        columns = list(summary["predicted_labels"])
        confusion = np.asarray(summary["confusion_matrix"], dtype=np.int64)
        if confusion.shape != (len(true_labels), len(columns)):
            raise ValueError(
                f"validation of {gc.attribute}: confusion_matrix is {confusion.shape}, "
                f"expected {len(true_labels)} labels × {len(columns)} predicted labels"
            )
        strange = [lab for lab in gc.labels if lab not in columns]
        if strange:
            raise ValueError(
                f"validation of {gc.attribute} has no column for label(s) {', '.join(strange)} "
                f"(it has {', '.join(columns)})"
            )
        observed = np.zeros((len(gc.keys), len(columns)), dtype=np.int64)
        for j, label in enumerate(gc.labels):
            observed[:, columns.index(label)] = gc.counts[:, j]
        if UNKNOWN in columns:
            observed[:, columns.index(UNKNOWN)] = gc.unknown
        keep = observed.sum(axis=1) > 0
        if not keep.any():
            continue
        try:
            check_conditioning(confusion)
        except ValueError:
            continue
        estimate, low, high = corrected_intervals(
            observed[keep],
            np.broadcast_to(confusion, (int(keep.sum()), *confusion.shape)),
            samples=samples,
            confidence=confidence,
            rng=rng,
        )
        keys = gc.keys[keep].reset_index(drop=True)
        answered = gc.n[keep]
        k = len(true_labels)
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
        frame["corrected_share"] = estimate.ravel()
        frame["ci_low"] = low.ravel()
        frame["ci_high"] = high.ravel()
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[*by, "classifier", "attribute", "label", "corrected_share", "ci_low", "ci_high"])
    return pd.concat(frames, ignore_index=True)
