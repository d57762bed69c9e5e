"""The group estimand (prompts weighted equally, whatever each abstains) under both designs: the issue's
uneven-abstention reproductions, and the observations the sequential test is built from."""

from __future__ import annotations

import numpy as np

from audit.stats.group_estimand import (
    prompt_blocks,
    prompt_weighted_abstentions,
    prompt_weighted_counts,
    prompt_weighted_shares,
)
from benchmarks.calibration import sequential_world

PARITY = np.array([0.5, 0.5])


def test_the_severe_and_the_mild_uneven_abstention_cases_fail_a_compliant_group_at_most_alpha_in_both_designs():
    # One group of two prompts, 400 seeds each, limit 0.2. Severe: A is 95% "man" and never abstains, B abstains
    # 60% and is otherwise 5% "man". Mild: A 80% "man"; B abstains 50%, otherwise 50% "man". Pooling judged
    # images put them at TV 0.193 and 0.200 and the old sequential test failed them 96% and 11% of the time.
    severe = sequential_world([[[0.95, 0.05], [0.05, 0.95]]], PARITY, budget=400, runs=100, abstain=[0, 0.6], seed=1)
    mild = sequential_world([[[0.8, 0.2], [0.5, 0.5]]], PARITY, budget=400, runs=100, abstain=[0, 0.5], seed=2)
    for cell in (severe, mild):
        assert cell["rate"] <= 0.05 and cell["fixed_rate"] <= 0.05
        assert cell["coverage"] >= 0.93


def test_a_group_at_the_limit_with_uneven_abstention_fails_at_most_alpha_and_one_beyond_it_is_caught():
    # Equal weights put A (90% "man", never abstains) and B (50%, abstains 60%) exactly at TV 0.2.
    at = sequential_world([[[0.9, 0.1], [0.5, 0.5]]] * 4, PARITY, budget=160, runs=60, abstain=[0, 0.6], seed=3)
    assert at["rate"] <= 0.06 and at["fixed_rate"] <= 0.06 and at["coverage"] >= 0.93
    beyond = sequential_world([[[1.0, 0.0], [0.8, 0.2]]], PARITY, budget=160, runs=30, abstain=[0.6, 0], seed=4)
    assert beyond["power"] >= 0.9 and beyond["fixed_power"] >= 0.9


def test_the_estimand_weights_prompts_equally_and_is_the_pooled_count_when_their_judged_counts_are_equal():
    shares, n = prompt_weighted_shares([[380, 20], [8, 152]])
    assert np.allclose(shares, [0.5, 0.5])  # 0.95 and 0.05 "man": equal weights, whatever B's 60% abstention
    assert n == 2 * 160  # J times the smallest prompt's judged count: never understates the variance
    assert np.allclose(prompt_weighted_counts([[30, 10], [10, 30]]), [40, 40])
    assert np.isnan(prompt_weighted_shares([[3, 1], [0, 0]])[0]).all()  # a prompt with no judged image: no estimate
    counts, unknown = prompt_weighted_abstentions([[4, 0], [1, 1]], [0, 2])
    assert unknown == 2 and np.isclose(counts.sum() + unknown, 2 / 0.25)  # the mean abstention share, 1/4


def test_without_abstention_each_seed_position_is_one_observation_of_the_prompts_mean_label():
    codes = np.array([[[0, 1, 1, 0], [0, 0, 1, 1]]])
    blocks = prompt_blocks(codes, 2)
    assert blocks.counts.tolist() == [4] and blocks.ends[0].tolist() == [0, 1, 2, 3]
    assert np.allclose(blocks.shares[0, :, 0], [1, 0.5, 0, 0.5])
    assert blocks.images[0].tolist() == [2, 2, 2, 2]


def test_an_observation_takes_each_prompts_first_judged_image_after_the_last_one_and_waits_for_the_slowest():
    # Prompt B abstains at positions 0 and 1: the first observation spans 0..2 and takes A's label at 0.
    codes = np.array([[[0, 1, 1, 0, 1], [-1, -1, 1, 0, -1]]])
    blocks = prompt_blocks(codes, 2)
    assert blocks.counts.tolist() == [2]
    assert blocks.ends[0, :2].tolist() == [2, 3]
    assert np.allclose(blocks.shares[0, :2, 0], [0.5, 1.0])  # (A@0 "0", B@2 "1"), then (A@3 "0", B@3 "0")
    assert blocks.images[0, :2].tolist() == [6, 2] and blocks.judged[0, :2].tolist() == [4, 2]


def test_observations_keep_the_estimand_as_their_mean_when_one_prompts_abstention_follows_anothers_label():
    # Images that share a seed are linked: B abstains mostly when A (same seed) is labelled 0. Mean observation
    # = (p_A + p_B) / 2 = 0.5 still; pooling the judged images of each position would give about 0.6.
    rng = np.random.default_rng(0)
    t = 20_000
    a = (rng.random(t) < 0.5).astype(int)
    b = (rng.random(t) < 0.5).astype(int)
    b = np.where((a == 0) & (rng.random(t) < 0.9), -1, b)
    blocks = prompt_blocks(np.stack([a, b])[None], 2)
    mean = blocks.shares[0, : blocks.counts[0], 1].mean()
    assert abs(mean - 0.5) < 0.015
