"""Clustered images: how much less a pooled group's images tell than as many independent ones.

A group that pools several prompts (an occupation across its templates)
whose images share seeds holds clusters: the images one seed made for each
prompt. Images of a cluster start from the same noise and tend to agree, so
the group's count varies more than a multinomial of its size. The
dispersion (Pearson's statistic of the clusters over its degrees of
freedom, pooled over the groups of a check) estimates that factor; dividing
the counts by it (Rao & Scott's first-order correction) gives effective
counts that the exact tests can use. With one image per cluster it is 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def cluster_dispersion(frame: pd.DataFrame, *, groups: Sequence[str], cluster: str, labels: Sequence[str]) -> float:
    """Pooled Pearson dispersion of the label counts of clusters within groups, at least 1.

    ``frame`` has one row per judged image with the ``groups`` columns, the
    ``cluster`` column (the seed) and ``label``.
    """
    labels = list(labels)
    if frame.empty or len(labels) < 2:
        return 1.0
    keys = [*groups, cluster]
    table = frame.groupby(keys, sort=True, dropna=False)["label"].value_counts().unstack(fill_value=0)
    table = table.reindex(columns=labels, fill_value=0)
    if (table.sum(axis=1) <= 1).all():
        return 1.0  # one image per cluster: nothing is shared
    by_group = table.groupby(level=list(range(len(groups))), sort=True, dropna=False) if groups else [((), table)]
    chi2, df = 0.0, 0
    for _, sub in by_group:
        counts = sub.to_numpy(dtype=float)
        sizes = counts.sum(axis=1, keepdims=True)
        shares = counts.sum(axis=0) / counts.sum()
        present = shares > 0
        if present.sum() < 2 or len(counts) < 2:
            continue
        expected = sizes * shares[None, :]
        chi2 += float((((counts - expected) ** 2)[:, present] / expected[:, present]).sum())
        df += (len(counts) - 1) * (int(present.sum()) - 1)
    return max(1.0, chi2 / df) if df else 1.0


def effective_counts(counts, dispersion: float) -> np.ndarray:
    """Counts divided by the dispersion, rounded to integers that keep the (rounded) total (largest remainder)."""
    counts = np.asarray(counts, dtype=float)
    if dispersion <= 1.0 and np.array_equal(counts, np.round(counts)):
        return counts.astype(np.int64)
    scaled = counts / max(dispersion, 1.0)  # non-integer counts (a weighted estimand) are rounded the same way
    total = int(round(scaled.sum()))
    floor = np.floor(scaled).astype(np.int64)
    short = total - int(floor.sum())
    if short > 0:
        order = np.argsort(-(scaled - floor), kind="stable")
        floor[order[:short]] += 1
    return floor
