"""Anytime-valid evidence about a risk ratio: its level at the limit, its confidence sequence, its power."""

from __future__ import annotations

import numpy as np

from audit.stats.sequential_ratio import RatioTrajectory, ratio_evidence
from benchmarks.calibration import sequential_ratio_world


def test_a_sequential_risk_ratio_at_its_limit_fails_at_most_alpha_and_its_confidence_sequence_covers():
    paired = sequential_ratio_world(0.1, 1.5, groups=5, budget=160, runs=30, cover=2, seed=1)
    unpaired = sequential_ratio_world(0.2, 1.5, groups=5, budget=160, runs=30, cover=2, paired=False, seed=2)
    for cell in (paired, unpaired):
        assert cell["rate"] <= 0.06 and cell["coverage"] >= 0.93
    caught = sequential_ratio_world(0.1, 4.0, groups=5, budget=160, runs=10, cover=0, seed=3)
    assert caught["power"] >= 0.9 and caught["images_ratio"] < 0.8


def test_the_evidence_about_a_ratio_never_crosses_one_over_alpha_at_the_limit_more_than_alpha():
    rng = np.random.default_rng(0)
    crossed = 0
    for _ in range(200):
        a, b = (rng.random(200) < 0.3).astype(float), (rng.random(200) < 0.2).astype(float)  # ratio 1.5
        beyond, _ = ratio_evidence(a, b, 1.5)
        crossed += beyond[:, 0].max() >= np.log(10)
    assert crossed / 200 <= 0.1 + 0.04  # Ville at alpha 0.1, with 2 standard errors of 200 runs


def test_a_ratio_trajectory_estimates_sum_a_over_sum_b_inside_its_confidence_sequence():
    a = np.array([1, 0, 1, 1, 0, 1, 0, 1] * 10, float)
    b = np.array([0, 1, 0, 0, 0, 1, 0, 0] * 10, float)
    n = np.arange(1, len(a) + 1)
    traj = RatioTrajectory(np.arange(len(a)), a, b, n, 2 * n, limit=1.5)
    assert traj.estimate[-1] == a.sum() / b.sum() == 2.5
    low, high = traj.bounds(0.95)
    assert low[-1] <= 2.5 <= high[-1]
    assert (np.maximum.accumulate(low) == low).all() and (np.minimum.accumulate(high) == high).all()  # intersected
