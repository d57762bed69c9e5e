"""Confidence intervals for shares: Wilson for one proportion, Goodman for simultaneous multinomial shares."""

from __future__ import annotations

import numpy as np
from scipy import stats


def wilson_interval(count, n, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``count`` successes out of ``n`` (arrays broadcast).

    Where ``n`` is 0 the interval is the whole [0, 1]: nothing was observed.
    """
    count = np.asarray(count, dtype=float)
    n = np.asarray(n, dtype=float)
    z = stats.norm.ppf(0.5 + confidence / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = count / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    low = np.where(n > 0, np.clip(centre - half, 0, 1), 0.0)
    high = np.where(n > 0, np.clip(centre + half, 0, 1), 1.0)
    return low, high


def goodman_intervals(counts, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Goodman (1965) simultaneous intervals for the shares of multinomial ``counts``.

    ``counts`` has the categories on its last axis; the k intervals hold the
    true shares all at once with probability of at least ``confidence``
    (Bonferroni over the categories, so it is conservative for large k).
    """
    counts = np.asarray(counts, dtype=float)
    k = counts.shape[-1]
    n = counts.sum(axis=-1, keepdims=True)
    chi2 = stats.chi2.ppf(1 - (1 - confidence) / k, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = counts / n
        delta = np.sqrt(chi2**2 + 4 * n * chi2 * p * (1 - p))
        low = (2 * n * p + chi2 - delta) / (2 * (chi2 + n))
        high = (2 * n * p + chi2 + delta) / (2 * (chi2 + n))
    empty = np.broadcast_to(n == 0, counts.shape)
    return np.where(empty, 0.0, np.clip(low, 0, 1)), np.where(empty, 1.0, np.clip(high, 0, 1))


def share_intervals(counts, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, str]:
    """Intervals for the shares of one distribution: Wilson when binary, Goodman otherwise; and the method's name."""
    counts = np.asarray(counts, dtype=float)
    if counts.shape[-1] == 2:
        n = counts.sum(axis=-1, keepdims=True)
        low, high = wilson_interval(counts, n, confidence)
        return low, high, "wilson"
    low, high = goodman_intervals(counts, confidence)
    return low, high, "goodman"
