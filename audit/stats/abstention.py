"""How far abstentions could move a group's numbers: the worst cases if every ``unknown`` image had any label."""

from __future__ import annotations

import numpy as np

from audit.stats.distance_limits import distance


def share_range(count, n, unknown) -> tuple[np.ndarray, np.ndarray]:
    """The share of a label if no abstention had it, and if every abstention had it (arrays broadcast)."""
    count, n, unknown = (np.asarray(v, float) for v in (count, n, unknown))
    total = n + unknown
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, count / total, np.nan), np.where(total > 0, (count + unknown) / total, np.nan)


def distance_range(counts, unknown: int, q, metric: str = "tv") -> tuple[float, float]:
    """The smallest and largest distance from ``q`` once the ``unknown`` images are given labels.

    The largest is at a vertex (every abstention on one label: the distance is
    convex in the counts); the smallest fills each label's shortfall against
    its reference first, one image at a time.
    """
    counts = np.asarray(counts, dtype=float)
    q = np.asarray(q, float)
    total = counts.sum() + unknown
    if total == 0:
        return float("nan"), float("nan")
    largest = max(float(distance((counts + unknown * np.eye(len(q))[j]) / total, q, metric)) for j in range(len(q)))
    filled = counts.copy()
    for _ in range(int(unknown)):
        filled[np.argmax(q * total - filled)] += 1
    return float(distance(filled / total, q, metric)), largest
