"""Anytime-valid evidence for sequential audits, checked by simulation where it matters: at the limit, many groups,
small budgets, rates at 0, several labels, shared seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from audit.stats import distance
from audit.stats.sequential import (
    STOP_BEYOND,
    STOP_BUDGET,
    STOP_WITHIN,
    batch_evidence,
    e_bh,
    e_bh_adjusted,
    final_verdicts,
    log_evidence,
    metric_directions,
    stop_rule,
    trajectory,
)
from benchmarks.calibration import raise_first_take_last, sequential_world, tilt_every_label

HARM, SAFETY = "evidence_of_harm", "evidence_of_safety"


def _onehot(labels, k):
    return np.eye(k)[np.asarray(labels).astype(int)]


@pytest.mark.parametrize("k", [2, 3, 5])
@pytest.mark.parametrize("metric", ["tv", "max_gap"])
def test_a_metric_is_the_largest_of_its_directions(k, metric):
    rng = np.random.default_rng(k)
    for _ in range(50):
        p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
        d = metric_directions(metric, q)
        assert np.max(d.sets @ p - d.offsets) == pytest.approx(float(distance(p, q, metric)), abs=1e-12)


def _crossing_rate(p, q, limit, side, *, n=300, sims=600, alpha=0.1, seed=0):
    """How often the e-process ever reaches 1/alpha within n observations (Ville: at most alpha under the null)."""
    rng = np.random.default_rng(seed)
    k = len(q)
    labels = rng.choice(k, size=(sims, n), p=p)
    beyond, within = batch_evidence(_onehot(labels, k), metric_directions("tv", q), limit)
    process = beyond if side == "beyond" else within
    return float((process.max(axis=1) >= math.log(1 / alpha)).mean())


@pytest.mark.parametrize(
    "q, shape",
    [
        ([0.5, 0.5], "vertex"),
        ([0.1, 0.9], "vertex"),
        ([1 / 3] * 3, "vertex"),
        ([1 / 3] * 3, "spread"),
        ([0.25] * 4, "spread"),
    ],
)
def test_evidence_of_a_metric_beyond_the_limit_stays_rare_at_any_time_when_the_model_sits_at_the_limit(q, shape):
    q = np.array(q)
    p = (raise_first_take_last if shape == "vertex" else tilt_every_label)(q, 0.2)
    rate = _crossing_rate(p, q, 0.2, "beyond")
    assert rate <= 0.1 + 0.03, f"{rate} crossed 1/alpha at some time with the truth at the limit"


@pytest.mark.parametrize("q", [[0.5, 0.5], [1 / 3] * 3])
def test_evidence_of_a_metric_within_the_limit_stays_rare_when_the_model_sits_at_the_limit(q):
    q = np.array(q)
    rate = _crossing_rate(raise_first_take_last(q, 0.2), q, 0.2, "within", seed=3)
    assert rate <= 0.1 + 0.03


def test_the_evidence_grows_for_a_model_far_beyond_the_limit_and_for_one_at_parity():
    rng = np.random.default_rng(5)
    d = metric_directions("tv", [0.5, 0.5])
    beyond, _ = batch_evidence(_onehot(rng.random((200, 80)) < 0.05, 2), d, 0.2)
    assert (beyond[:, -1] >= math.log(100)).mean() >= 0.95  # 95% one label, limit 0.2: shown within 80 images
    _, within = batch_evidence(_onehot(rng.random((200, 300)) < 0.5, 2), d, 0.2)
    assert (within.max(axis=1) >= math.log(20)).mean() >= 0.9  # parity: shown within the limit


def test_a_zero_tolerance_rate_rejects_at_the_first_flagged_image_and_never_without_one():
    d = metric_directions("rate", np.zeros(2), label=0)
    x = _onehot([1, 1, 1, 0, 1], 2)  # label 0 (flagged) first seen at the fourth image
    beyond, within = log_evidence(x, d, 0.0)
    assert np.all(beyond[:3, 0] == 0.0) and np.isinf(beyond[3, 0]) and np.isinf(beyond[4, 0])
    assert np.all(np.isneginf(within[:, 0]))  # a rate below 0 can never be shown
    clean = log_evidence(_onehot([1] * 50, 2), d, 0.0)[0]
    assert np.all(clean[:, 0] <= 0.0)


def test_batch_evidence_equals_one_group_at_a_time():
    rng = np.random.default_rng(1)
    d = metric_directions("tv", [0.2, 0.3, 0.5])
    shares = _onehot(rng.integers(0, 3, (4, 60)), 3)
    beyond, within = batch_evidence(shares, d, 0.15)
    for g in range(4):
        one = log_evidence(shares[g], d, [0.15])
        np.testing.assert_allclose(beyond[g], one[0][:, 0])
        np.testing.assert_allclose(within[g], one[1][:, 0])


def test_e_bh_is_bh_on_the_reciprocal_e_values():
    rng = np.random.default_rng(2)
    for _ in range(200):
        m = int(rng.integers(1, 30))
        log_e = rng.normal(1.5, 2.5, m)
        log_e[rng.random(m) < 0.2] = -np.inf
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        expected = stats.false_discovery_control(np.minimum(1, np.exp(-log_e)), method="bh") <= alpha
        np.testing.assert_array_equal(e_bh(log_e, alpha), expected)
        np.testing.assert_array_equal(e_bh_adjusted(log_e) <= alpha, expected)


def test_e_bh_counts_groups_without_evidence_among_its_hypotheses():
    log_e = np.array([math.log(50), np.nan, np.nan])
    assert e_bh(log_e, 0.05, m=1).tolist() == [True, False, False]
    assert e_bh(log_e, 0.05).tolist() == [False, False, False]  # 50 < 3 / 0.05


def _trajectories(truths, q, n, *, seed=0, limit=0.2):
    rng = np.random.default_rng(seed)
    k = len(q)
    d = metric_directions("tv", q)
    out = []
    for p in truths:
        labels = rng.choice(k, size=n, p=p)
        out.append(trajectory(_onehot(labels, k), np.arange(n), np.ones(n), np.ones(n), d, limit))
    return out


def test_the_stop_rule_stops_a_skewed_group_beyond_a_parity_group_within_and_a_group_at_the_limit_at_its_budget():
    q = np.array([0.5, 0.5])
    trajs = _trajectories([[0.95, 0.05], [0.5, 0.5], [0.7, 0.3]], q, 400, seed=4)
    out = stop_rule(trajs, decide=HARM, alpha=0.05, round_size=16, rounds=25, rounds_done=25, min_judged=10)
    assert out[0].stop == STOP_BEYOND and out[0].t <= 64
    assert out[1].stop == STOP_WITHIN and out[1].t < 400
    assert out[2].stop in (STOP_BUDGET, STOP_WITHIN)
    assert all(o.t % 16 == 0 for o in out)  # decisions only at the end of a round


def test_no_group_stops_before_min_judged_and_an_unfinished_run_leaves_groups_running():
    q = np.array([0.5, 0.5])
    trajs = _trajectories([[1.0, 0.0]], q, 64)
    out = stop_rule(trajs, decide=HARM, alpha=0.05, round_size=8, rounds=8, rounds_done=8, min_judged=20)
    assert out[0].stop == STOP_BEYOND and out[0].t >= 20
    running = stop_rule(trajs, decide=HARM, alpha=0.05, round_size=8, rounds=8, rounds_done=2, min_judged=20)
    assert running[0].stop == "running"
    nothing = stop_rule([None], decide=HARM, alpha=0.05, round_size=8, rounds=8, rounds_done=8, min_judged=20)
    assert nothing[0].stop == "not_judged"


def test_every_group_stopped_beyond_is_still_rejected_by_e_bh_on_the_final_e_values():
    q = np.array([0.5, 0.5])
    rng = np.random.default_rng(9)
    for run in range(30):
        shifts = rng.uniform(0.1, 0.45, 12)
        truths = [raise_first_take_last(q, s) for s in shifts]
        trajs = _trajectories(truths, q, 160, seed=run)
        out = stop_rule(trajs, decide=HARM, alpha=0.1, round_size=16, rounds=10, rounds_done=10, min_judged=10)
        final = e_bh([o.log_beyond for o in out], 0.1, len(out))
        for o, rejected in zip(out, final, strict=True):
            assert o.stop != STOP_BEYOND or rejected


@pytest.mark.parametrize("futility", [0.2, 0.5])
def test_a_futility_stop_lets_a_group_beyond_the_limit_stop_within_at_most_that_often(futility):
    # 300 groups at 0.21 TV, just beyond the 0.2 limit: the most a futility stop can cost is futility each.
    q = np.array([0.5, 0.5])
    trajs = _trajectories([raise_first_take_last(q, 0.21)] * 300, q, 320, seed=5)
    out = stop_rule(
        trajs, decide=HARM, alpha=0.05, round_size=16, rounds=20, rounds_done=20, min_judged=10, futility=futility
    )
    stopped_within = np.mean([o.stop == STOP_WITHIN for o in out])
    assert 0 < stopped_within <= futility + 0.03  # 3 standard errors of 300 groups
    strict = stop_rule(trajs, decide=HARM, alpha=0.05, round_size=16, rounds=20, rounds_done=20, min_judged=10)
    assert np.mean([o.stop == STOP_WITHIN for o in strict]) < stopped_within  # futility None: alpha, stricter


def test_a_futility_stop_settles_prompts_at_half_the_limit_with_fewer_images_and_never_fails_more():
    truths = np.vstack([[0.8, 0.2], np.tile([0.6, 0.4], (23, 1))])
    loose = sequential_world(truths, [0.5, 0.5], budget=400, runs=20, cover=0, seed=3, futility=0.2)
    strict = sequential_world(truths, [0.5, 0.5], budget=400, runs=20, cover=0, seed=3, futility=0.05)
    assert loose["images"] < 0.8 * strict["images"]
    assert loose["rate"] == strict["rate"] == 0  # same draws: the prompts at limit/2 fail under neither
    assert loose["power"] >= strict["power"] - 0.1


@pytest.mark.slow
@pytest.mark.parametrize(
    "label, kwargs",
    [
        ("50 prompts at the limit, budget 30", dict(truths=np.tile([0.7, 0.3], (50, 1)), budget=30)),
        (
            "24 at limit/2 and one at 1.5 x limit, budget 100",
            dict(truths=np.vstack([[0.8, 0.2], np.tile([0.6, 0.4], (23, 1))]), budget=100),
        ),
        (
            "3 labels at the limit, spread",
            dict(truths=np.tile(tilt_every_label(np.full(3, 1 / 3), 0.2), (20, 1)), q=np.full(3, 1 / 3), budget=64),
        ),
        (
            "5 labels at the limit",
            dict(
                truths=np.tile(raise_first_take_last(np.full(5, 0.2), 0.2), (10, 1)),
                q=np.full(5, 0.2),
                budget=48,
                cover=3,
            ),
        ),
        (
            "shared seeds, 3 templates, rho 0.3",
            dict(truths=np.tile([0.7, 0.3], (20, 1)), budget=32, templates=3, rho=0.3),
        ),
        (
            "rates at the limit 0.05",
            dict(truths=np.tile([0.05, 0.95], (50, 1)), q=np.zeros(2), budget=100, metric="rate", limit=0.05),
        ),
        (
            "rates at 0, zero tolerance",
            dict(truths=np.tile([0.0, 1.0], (50, 1)), q=np.zeros(2), budget=50, metric="rate", limit=0.0),
        ),
        ("certification at the limit", dict(truths=np.tile([0.7, 0.3], (10, 1)), budget=160, decide=SAFETY, cover=4)),
        (
            "50 prompts at the limit, futility 0.5",
            dict(truths=np.tile([0.7, 0.3], (50, 1)), budget=100, futility=0.5),
        ),
        (
            "certification at the limit, futility 0.5",
            dict(truths=np.tile([0.7, 0.3], (10, 1)), budget=160, decide=SAFETY, cover=4, futility=0.5),
        ),
    ],
)
def test_whole_sequential_checks_keep_their_error_rate_and_coverage_in_the_hard_cases(label, kwargs):
    kwargs.setdefault("q", np.array([0.5, 0.5]))
    kwargs.setdefault("cover", 8)
    cell = sequential_world(runs=60, seed=1, **kwargs)
    assert cell["rate"] <= 0.05 + 0.01, label
    assert cell["coverage"] >= 0.93, label


def test_a_planted_bias_is_caught_with_fewer_images_than_the_budget():
    truths = np.vstack([np.tile([0.9, 0.1], (3, 1)), np.tile([0.5, 0.5], (7, 1))])
    cell = sequential_world(truths, [0.5, 0.5], budget=400, runs=20, alpha=0.05, cover=0, seed=2)
    assert cell["power"] >= 0.95
    assert cell["images"] <= 0.5 * cell["fixed_images"]


def test_a_group_that_would_be_shown_beyond_early_waits_for_min_judged_images():
    # All 'man' at parity: e-BH rejects after two or three rounds of 8; min_judged 48 holds the stop to round 6.
    q = np.array([0.5, 0.5])
    trajs = _trajectories([[1.0, 0.0]], q, 96)
    free = stop_rule(trajs, decide=HARM, alpha=0.05, round_size=8, rounds=12, rounds_done=12, min_judged=1)
    assert free[0].stop == STOP_BEYOND and free[0].t < 48  # without min_judged it would stop sooner
    held = stop_rule(trajs, decide=HARM, alpha=0.05, round_size=8, rounds=12, rounds_done=12, min_judged=48)
    assert held[0].stop == STOP_BEYOND and held[0].t == 48
    # The futility side waits too: a parity group stops within no earlier than min_judged.
    parity = _trajectories([[0.5, 0.5]], q, 400, seed=1)
    early = stop_rule(parity, decide=HARM, alpha=0.05, round_size=8, rounds=50, rounds_done=50, min_judged=1)
    late = stop_rule(
        parity, decide=HARM, alpha=0.05, round_size=8, rounds=50, rounds_done=50, min_judged=early[0].t + 40
    )
    assert early[0].stop == late[0].stop == STOP_WITHIN and late[0].t >= early[0].t + 40


def _fixed_evidence(log_within: float, groups: int, t: int = 32):
    """Groups whose within e-value climbs to ``log_within`` by the last observation (the beyond e-value stays 0)."""
    d = metric_directions("tv", [0.5, 0.5])
    shares = np.tile([0.5, 0.5], (t, 1))
    ramp = np.linspace(0, log_within, t)
    return [
        trajectory(shares, np.arange(t), np.ones(t), np.ones(t), d, 0.2, evidence=(np.zeros(t), ramp))
        for _ in range(groups)
    ]


def test_a_certification_stops_and_passes_a_group_only_at_m_over_alpha_not_at_one_over_alpha():
    # 20 groups at alpha 0.05: log(1/alpha) = 3.0 < 4 < log(20/alpha) = 5.99, so no group may pass at e^4.
    between = _fixed_evidence(4.0, 20)
    out = stop_rule(between, decide=SAFETY, alpha=0.05, round_size=8, rounds=4, rounds_done=4, min_judged=1)
    assert all(o.stop == STOP_BUDGET for o in out)
    verdicts = final_verdicts([o.log_beyond for o in out], [o.log_within for o in out], decide=SAFETY, alpha=0.05)
    assert not verdicts.flagged.any() and np.isclose(verdicts.confidence, 1 - 0.05 / 20)
    above = _fixed_evidence(6.5, 20)
    out = stop_rule(above, decide=SAFETY, alpha=0.05, round_size=8, rounds=4, rounds_done=4, min_judged=1)
    assert all(o.stop == STOP_WITHIN for o in out)
    verdicts = final_verdicts([o.log_beyond for o in out], [o.log_within for o in out], decide=SAFETY, alpha=0.05)
    assert verdicts.flagged.all()


def test_curtailment_stops_groups_that_cannot_be_shown_beyond_by_their_budget_and_adds_no_false_fail():
    # 24 prompts at 0.15 (0.75 of the limit): none can be shown beyond by a budget of 200 seeds, so curtailed
    # stops end them early; prompts exactly at the limit still fail no more than alpha.
    near = np.tile(raise_first_take_last(np.array([0.5, 0.5]), 0.15), (24, 1))
    plain = sequential_world(near, [0.5, 0.5], budget=200, runs=6, cover=0, seed=6)
    curtailed = sequential_world(near, [0.5, 0.5], budget=200, runs=6, cover=0, seed=6, curtail=True)
    assert curtailed["images"] < 0.6 * plain["images"]
    at = sequential_world(np.tile([0.7, 0.3], (10, 1)), [0.5, 0.5], budget=128, runs=30, cover=5, seed=7, curtail=True)
    assert at["rate"] <= 0.06 and at["coverage"] >= 0.93


def test_curtailment_keeps_most_of_the_power_against_a_clear_violation():
    truths = np.vstack(
        [np.tile(raise_first_take_last(np.array([0.5, 0.5]), 0.35), (4, 1)), np.tile([0.6, 0.4], (20, 1))]
    )
    plain = sequential_world(truths, [0.5, 0.5], budget=200, runs=15, cover=0, seed=8)
    curtailed = sequential_world(truths, [0.5, 0.5], budget=200, runs=15, cover=0, seed=8, curtail=True)
    assert curtailed["power"] >= plain["power"] - 0.1
    assert curtailed["images"] < plain["images"]
