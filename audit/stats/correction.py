"""Correcting label shares for the classifier's own errors, given its confusion matrix from validation.

``confusion[i, j]`` counts validation images of true label i that the
classifier called j. Observed shares are ``o = M.T @ t`` with ``M`` the
row-normalised confusion matrix; the corrected shares solve that for ``t``
and are projected onto the probability simplex.
"""

from __future__ import annotations

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
        raw = np.linalg.solve(transposed, shares[..., None])[..., 0]
    except np.linalg.LinAlgError:
        # A confusion matrix resampled from little validation data can be singular: least squares then.
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
    estimate = corrected_shares(observed, confusion)
    n = observed.sum(axis=-1)
    obs_draw = rng.multinomial(n, observed / n[..., None], size=(samples, *n.shape))
    rows = confusion.sum(axis=-1)
    conf_draw = rng.multinomial(rows, _rates(confusion), size=(samples, *rows.shape))
    boot = corrected_shares(obs_draw, conf_draw)
    tail = (1 - confidence) / 2
    low, high = np.quantile(boot, [tail, 1 - tail], axis=0)
    return estimate, low, high
