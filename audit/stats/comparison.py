"""Two-sample comparison of label distributions: is a group's distribution in run B different from run A?"""

from __future__ import annotations

import numpy as np
from scipy import stats

from audit.stats.deviation import MIN_EXPECTED


def _chi_square_statistic(table: np.ndarray) -> np.ndarray:
    """Pearson's statistic of 2×k tables on the last two axes (margins from each table)."""
    rows = table.sum(axis=-1, keepdims=True)
    cols = table.sum(axis=-2, keepdims=True)
    expected = rows * cols / table.sum(axis=(-2, -1), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(expected > 0, (table - expected) ** 2 / expected, 0.0).sum(axis=(-2, -1))


def two_sample_test(
    counts_a, counts_b, *, rng: np.random.Generator | None = None, mc_samples: int = 4000
) -> tuple[float, str]:
    """p-value of the test that two samples' label counts come from one distribution, and the test's name.

    2×2 tables: Fisher's exact test when an expected count is below 5,
    Pearson's chi-square otherwise. Larger tables: chi-square, or a
    Monte-Carlo permutation test of the chi-square statistic (margins fixed)
    when expected counts are small.
    """
    table = np.array([counts_a, counts_b], dtype=np.int64)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0 if table.shape[1] < 2 and table.sum() else float("nan"), "none"
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if expected.min() >= MIN_EXPECTED:
        return float(stats.chi2_contingency(table, correction=False).pvalue), "chi-square"
    if table.shape[1] == 2:
        return float(stats.fisher_exact(table).pvalue), "fisher exact"
    rng = rng if rng is not None else np.random.default_rng(0)
    k = table.shape[1]
    pooled = np.repeat(np.arange(k), table.sum(axis=0))
    n_a = int(table[0].sum())
    # Each permutation splits the pooled labels into samples of the original sizes.
    shuffled = rng.permuted(np.tile(pooled, (mc_samples, 1)), axis=1)
    first = np.stack([(shuffled[:, :n_a] == j).sum(axis=1) for j in range(k)], axis=1)
    second = table.sum(axis=0) - first
    simulated = _chi_square_statistic(np.stack([first, second], axis=1))
    observed = _chi_square_statistic(table)
    p = (1 + int((simulated >= observed - 1e-9).sum())) / (1 + mc_samples)
    return p, "monte-carlo permutation"
