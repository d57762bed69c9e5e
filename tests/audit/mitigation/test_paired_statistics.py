"""Paired statistics of a mitigated run against its baseline, checked against scipy and by simulation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from audit.stats import tv_distance
from audit.stats.paired_runs import distance_change, paired_difference_interval


def _pairs(rng, n, p_b, p_m, correlation):
    """Binary outcomes of n pairs with the given marginal rates, correlated through a shared latent draw."""
    shared = rng.uniform(size=n)
    own_b, own_m = rng.uniform(size=n), rng.uniform(size=n)
    u_b = np.where(rng.uniform(size=n) < correlation, shared, own_b)
    u_m = np.where(rng.uniform(size=n) < correlation, shared, own_m)
    return u_b < p_b, u_m < p_m


@pytest.mark.parametrize(
    ("n", "p_b", "p_m", "correlation"),
    [(20, 0.5, 0.5, 0.6), (30, 0.1, 0.1, 0.5), (60, 0.9, 0.5, 0.3), (40, 0.05, 0.2, 0.0), (15, 0.3, 0.6, 0.8)],
)
def test_the_paired_difference_interval_covers_at_its_level_in_the_hard_cases(n, p_b, p_m, correlation):
    """Small n, rates near 0 or 1, correlated pairs: Tango's score interval keeps >= 93% coverage."""
    rng = np.random.default_rng(11)
    # The true difference of the marginals (the latent construction keeps them exactly p_b and p_m).
    truth = p_m - p_b
    hits, runs = 0, 2000
    for _ in range(runs):
        b, m = _pairs(rng, n, p_b, p_m, correlation)
        both, only_m, only_b = int((b & m).sum()), int((~b & m).sum()), int((b & ~m).sum())
        _, low, high = paired_difference_interval(both, only_m, only_b, n - both - only_m - only_b)
        hits += low <= truth <= high
    assert hits / runs >= 0.93


def test_the_interval_has_the_difference_inside_and_never_leaves_the_unit_range():
    for counts in [(0, 0, 0, 30), (30, 0, 0, 0), (0, 12, 0, 0), (5, 7, 1, 7)]:
        delta, low, high = paired_difference_interval(*counts)
        assert -1 <= low <= delta <= high <= 1 and high > low


def test_the_permutation_test_keeps_its_level_when_the_mitigation_changes_nothing():
    """Both runs draw from the same distribution: p < 0.05 in at most about 5% of simulated comparisons."""
    rng = np.random.default_rng(5)
    labels = ["a", "b", "c"]
    q = np.full(3, 1 / 3)
    rejections, runs = 0, 300
    for _ in range(runs):
        b = rng.choice(labels, size=30, p=[0.6, 0.3, 0.1])
        m = rng.choice(labels, size=30, p=[0.6, 0.3, 0.1])
        result = distance_change(b, m, labels, q, tv_distance, rng=rng, resamples=400)
        rejections += result["p_value"] < 0.05
    assert rejections / runs <= 0.08


def test_a_real_reduction_of_the_distance_is_found_and_its_interval_covers_it():
    rng = np.random.default_rng(9)
    labels = ["x", "y"]
    q = np.array([0.5, 0.5])
    truth = float(tv_distance(np.array([0.55, 0.45]), q) - tv_distance(np.array([0.9, 0.1]), q))
    found = covered = 0
    runs = 200
    for _ in range(runs):
        shared = rng.uniform(size=80)
        b = np.where(shared < 0.9, "x", "y")
        m = np.where(np.where(rng.uniform(size=80) < 0.5, shared, rng.uniform(size=80)) < 0.55, "x", "y")
        result = distance_change(b, m, labels, q, tv_distance, rng=rng, resamples=500)
        found += result["p_value"] < 0.05 and result["change"] < 0
        covered += result["change_low"] <= truth <= result["change_high"]
    assert found / runs > 0.95
    assert covered / runs >= 0.92


def test_mcnemar_p_values_are_scipys_binomial_test():
    from audit.stats.paired import mcnemar_exact

    for b, c in [(0, 5), (3, 9), (10, 10)]:
        assert mcnemar_exact(b, c) == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue)
