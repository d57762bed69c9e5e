import numpy as np
import pytest

from audit.stats import detection_power, deviations, images_needed, plan
from tests.audit.stats.test_multiple_testing import _simulated_labels


@pytest.mark.parametrize(
    ("shares", "tolerance"),
    [
        ([0.65, 0.35], 0.025),  # two labels, 0.15 from parity: the planner's power is exact
        ([0.325, 0.325, 0.175, 0.175], 0.04),  # four labels, 0.15 TV spread the least detectable way
    ],
)
def test_a_planted_015_tv_deviation_is_detected_with_the_planned_power(shares, tolerance):
    rng = np.random.default_rng(9)
    shares = np.array([shares])
    predicted = float(detection_power(100, 0.15, categories=shares.shape[1]))
    table = deviations(_simulated_labels(2000, shares, 100, rng), by=["audit"], bootstrap=2)
    assert table.tv.mean() == pytest.approx(0.15, abs=0.02)
    simulated = np.mean(table.p_value < 0.05)
    assert abs(simulated - predicted) <= tolerance, (simulated, predicted)


def test_binary_power_is_that_of_the_exact_test_scipy_runs():
    from scipy import stats

    n, share = 60, 0.65
    rejects = [x for x in range(n + 1) if stats.binomtest(x, n, 0.5).pvalue <= 0.05]
    assert detection_power(n, 0.15) == pytest.approx(sum(stats.binom.pmf(x, n, share) for x in rejects))


def test_images_needed_is_the_smallest_n_reaching_the_power():
    n = images_needed(0.15, categories=2, alpha=0.05, power=0.8)
    assert detection_power(n, 0.15) >= 0.8 > detection_power(n - 1, 0.15)
    assert images_needed(0.1) > n > images_needed(0.3)
    assert images_needed(0.15, categories=5) > n


def test_plan_for_a_suite_accounts_for_many_prompts_and_abstentions():
    result = plan(40, tv=0.15, power=0.8, unknown_rate=0.2)
    assert result["images_per_prompt"] == int(np.ceil(images_needed(0.15) / 0.8))
    assert result["images_per_prompt_run_controlled"] > result["images_per_prompt"]
    assert result["total_images"] == 40 * result["images_per_prompt"]
    with pytest.raises(ValueError, match="power"):
        plan(3, power=1.5)
