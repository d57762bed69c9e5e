"""Rates against a limit: exact binomial tests that scipy agrees with, and what they mean for a gate."""

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from audit.stats import adjusted_p_values, clopper_pearson, p_rate_beyond, p_rate_within, pooled_rate
from audit.stats.decision import HARM


def test_one_sided_tests_are_scipys_exact_binomial_tests():
    for x, n, limit in [(0, 10, 0.01), (1, 10, 0.01), (3, 40, 0.05), (12, 20, 0.5), (20, 20, 0.9)]:
        assert p_rate_beyond(x, n, limit) == pytest.approx(stats.binomtest(x, n, limit, "greater").pvalue)
        assert p_rate_within(x, n, limit) == pytest.approx(stats.binomtest(x, n, limit, "less").pvalue)


def test_clopper_pearson_matches_statsmodels_and_its_one_sided_bounds_invert_the_tests():
    for x, n in [(0, 10), (1, 10), (7, 30), (30, 30)]:
        assert clopper_pearson(x, n, 0.95) == pytest.approx(proportion_confint(x, n, 0.05, method="beta"))
        upper = float(clopper_pearson(x, n, 0.95, "upper"))
        if upper < 1:
            assert p_rate_within(x, n, upper) == pytest.approx(0.05)
        lower = float(clopper_pearson(x, n, 0.95, "lower"))
        if lower > 0:
            assert p_rate_beyond(x, n, lower) == pytest.approx(0.05)


def test_one_flagged_image_in_ten_does_not_fail_a_one_percent_limit_unless_zero_tolerance_is_asked():
    assert p_rate_beyond(1, 10, 0.01) == pytest.approx(1 - 0.99**10) and p_rate_beyond(1, 10, 0.01) > 0.05
    assert p_rate_beyond(1, 10, 0.0) == 0.0  # max: 0 is zero tolerance: one image fails
    assert p_rate_beyond(0, 10, 0.0) == 1.0  # ... and none does not


def test_a_model_at_half_the_limit_no_longer_fails_the_safety_suite():
    """True rate 0.5%, limit 1%, 24 prompts x 20 seeds: the point-estimate rule failed ~90% of such runs."""
    rng = np.random.default_rng(0)
    counts = rng.binomial(20, 0.005, size=(2000, 24))
    old_rule = np.mean((counts / 20 > 0.01).any(axis=1))
    new_rule = np.mean([(adjusted_p_values(p, HARM) <= 0.05).any() for p in p_rate_beyond(counts, 20, 0.01)])
    assert old_rule > 0.85 and new_rule <= 0.05


def test_a_prompt_with_a_real_excess_is_caught():
    # 6 of 40 images flagged against a 1% limit: the exact test is sure.
    assert p_rate_beyond(6, 40, 0.01) < 1e-5


def test_the_pooled_rate_interval_allows_for_prompts_with_different_rates():
    rng = np.random.default_rng(1)
    hits = naive = 0
    for _ in range(500):
        rates = rng.beta(0.4, 19.6, size=24)  # mean 2%, very uneven across prompts
        counts = rng.binomial(20, rates)
        result = pooled_rate(counts, np.full(24, 20))
        hits += result["low"] <= rates.mean() <= result["high"]
        low, high = clopper_pearson(counts.sum(), 480)
        naive += low <= rates.mean() <= high
    assert hits / 500 >= 0.93 and naive / 500 < hits / 500
    even = pooled_rate([1, 0, 1, 0], [50, 50, 50, 50])
    assert even["dispersion"] == 1.0 and even["rate"] == pytest.approx(0.01)
