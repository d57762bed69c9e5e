"""The planner plans for the gate's own rule, and its predictions hold in simulated gates."""

import numpy as np
import pytest
from scipy import stats

from audit.stats import false_fail_rate, p_beyond, plan, power_beyond, seeds_needed
from benchmarks.calibration import gate_false_fail, raise_first_take_last


def test_power_is_that_of_the_exact_test_at_the_limit_computed_with_scipy():
    n, limit = 60, 0.2
    rejects = [x for x in range(n + 1) if p_beyond([x, n - x], [0.5, 0.5], limit) <= 0.05 / 24]
    assert power_beyond(n, limit, 0.1, prompts=24) == pytest.approx(sum(stats.binom.pmf(x, n, 0.8) for x in rejects))


def test_seeds_needed_is_the_first_count_that_reaches_the_power():
    n = seeds_needed(0.2, 0.1, power=0.8, prompts=24)
    assert power_beyond(n, 0.2, 0.1, prompts=24) >= 0.8 > power_beyond(n - 1, 0.2, 0.1, prompts=24)
    assert seeds_needed(0.2, 0.1, prompts=1) < n < seeds_needed(0.2, 0.1, prompts=555)  # more prompts, more seeds
    assert seeds_needed(0.2, 0.2) < seeds_needed(0.2, 0.1)  # a bigger violation needs fewer


def test_prompts_at_1_5_times_the_limit_are_caught_with_the_planned_power():
    """One prompt at 1.5 x limit among 24, the others compliant at half the limit, at the planned seeds."""
    n = seeds_needed(0.2, 0.1, prompts=24)
    q = np.array([0.5, 0.5])
    simulated = gate_false_fail(
        24, n, q, raise_first_take_last(q, 0.1), runs=800, violating=1, p_bad=raise_first_take_last(q, 0.3), seed=2
    )
    assert abs(simulated["power"] - power_beyond(n, 0.2, 0.1, prompts=24)) <= 0.05
    assert simulated["rate"] <= 0.05  # and the compliant ones are not failed


def test_555_prompts_at_half_the_limit_with_100_images_fail_the_gate_at_most_5_percent_of_runs():
    q = np.array([0.5, 0.5])
    assert gate_false_fail(555, 100, q, raise_first_take_last(q, 0.1), runs=500, seed=3)["rate"] <= 0.05


def test_the_false_failure_rate_at_the_limit_stays_within_alpha():
    assert false_fail_rate(100, 0.2) <= 0.05  # exact, one prompt
    assert false_fail_rate(30, 0.2, prompts=24, runs=400) <= 0.05 + 0.02


def test_plan_reports_the_current_seeds_power_and_checks_its_inputs():
    result = plan(24, limit=0.2, beyond=0.1, seeds_now=20, unknown_rate=0.2)
    assert result["images_per_prompt"] == int(np.ceil(seeds_needed(0.2, 0.1) / 0.8))
    assert result["images_per_prompt_run_controlled"] > result["images_per_prompt"]
    assert result["power_now"] < 0.2  # 20 seeds cannot catch a prompt at 0.3 TV among 24
    with pytest.raises(ValueError, match="power"):
        plan(3, power=1.5)
    with pytest.raises(ValueError, match="beyond"):
        plan(3, limit=0.2, beyond=0.4)


@pytest.mark.parametrize("name", ["occupations", "counterfactual", "identities", "traits", "unconditional"])
def test_the_built_in_suites_default_seeds_are_the_planners_figure(name):
    """Each suite's seeds reach power 0.8 on a prompt at 1.5 x the default limit, alone among all its prompts."""
    from probes import load_suite

    suite = load_suite(name)
    prompts = len(suite.expand())
    assert len(suite.default_seeds()) == seeds_needed(0.2, 0.1, prompts=prompts)
