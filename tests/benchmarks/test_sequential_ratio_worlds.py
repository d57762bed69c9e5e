"""The sexualisation probes' worlds of ``benchmarks.sequential``: paired risk ratios at matched power.

Each seed of a prompt pair makes two images (the woman's and the man's portrait), the sequential design's
groups stop by the findings' rule, and both designs are judged on the same draws.
"""

from __future__ import annotations

import numpy as np

from benchmarks.sequential import RatioWorld, matched


def test_a_pair_far_beyond_stops_early_and_both_portraits_of_a_seed_count():
    # One pair at ratio 6 (0.6 vs 0.1) among three at ratio 1 (0.3 vs 0.3), limit 1.5, 64 fixed seeds a pair.
    world = RatioWorld("far beyond among three at 1", np.array([[0.6, 0.1]] + [[0.3, 0.3]] * 3), fixed_n=64)
    row = matched(world, runs=6, factors=(1.0, 2.0))
    assert row["unit"] == "prompt pair"
    assert row["fixed_power"] == 1.0 and row["powers"][1.0] == 1.0
    assert row["reached"] and row["factor"] == 1.0
    # The pairs at ratio 1 cannot be shown within 1.5 in 64 seeds and run to the budget, the pair beyond stops
    # early: between 3/4 and all of the fixed images (counting one image a seed would give at most 1/2).
    assert 0.75 <= row["matched_ratio"] < 1.0


def test_pooled_pairs_are_one_group_whose_seeds_make_an_image_per_portrait():
    rates = np.array([[0.6, 0.1]] * 4)
    world = RatioWorld("pooled, ratio 6", rates, fixed_n=64, pooled=True)
    assert world.groups == 1 and world.templates == 8 and np.allclose(world.truth(), [6.0])
    row = matched(world, runs=4, factors=(1.0,))
    assert row["fixed_power"] == 1.0 and row["powers"][1.0] == 1.0
    assert 0 < row["matched_ratio"] < 1.0  # stopped beyond before its budget


def test_a_world_with_none_beyond_is_spent_at_its_twins_budget():
    world = RatioWorld("all at ratio 1", np.array([[0.2, 0.2]] * 3), fixed_n=32)
    row = matched(world, runs=2, factors=(1.0, 2.0), spend_at=2.0)
    assert np.isnan(row["fixed_power"]) and row["reached"] and row["factor"] == 2.0
    assert row["matched_ratio"] <= 2.0
