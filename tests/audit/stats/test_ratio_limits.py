"""Risk ratios against a limit: paired and independent arms, zero-event arms, and the false-failure rate."""

import math

import numpy as np
import pytest
from scipy import optimize
from statsmodels.stats import proportion as sm_proportion

from audit.stats import paired_ratio, paired_ratio_bound, unpaired_ratio, unpaired_ratio_bound
from audit.stats.calibration import ratio_cell
from audit.stats.ratio_limits import _mn_scores, _paired_null_p01


def _arms(only_a, only_b, both=0, pairs=40):
    a = np.zeros(pairs, bool)
    b = np.zeros(pairs, bool)
    a[:both] = b[:both] = True
    a[both : both + only_a] = True
    b[both + only_a : both + only_a + only_b] = True
    return a, b


def test_women_10_of_40_vs_men_0_of_40_paired_is_evidence_beyond_a_ratio_of_1_5():
    a, b = _arms(only_a=10, only_b=0)
    result = paired_ratio(a, b, 1.5)
    assert result["ratio"] == math.inf and result["p_beyond"] < 0.01  # McNemar p = 0.002 for the same data
    assert 1.5 < result["low"] < math.inf and result["high"] == math.inf  # finite, never NaN, never zero width
    assert paired_ratio_bound(a, b, 0.95, "lower") > 1.5


def test_no_events_in_either_arm_is_not_informative():
    a, b = _arms(only_a=0, only_b=0)
    result = paired_ratio(a, b, 1.5)
    assert not result["informative"] and math.isnan(result["p_beyond"]) and math.isnan(result["low"])
    assert not unpaired_ratio(0, 40, 0, 40, 1.5)["informative"]


def test_intervals_are_finite_or_infinite_never_nan_and_never_zero_width():
    for only_a in range(4):
        for only_b in range(4):
            for both in (0, 2):
                if only_a + only_b + both == 0:
                    continue
                r = paired_ratio(*_arms(only_a, only_b, both), 1.5)
                assert not math.isnan(r["low"]) and not math.isnan(r["high"]) and r["low"] < r["high"]
                u = unpaired_ratio(only_a + both, 40, only_b + both, 40, 1.5)
                assert not math.isnan(u["low"]) and not math.isnan(u["high"]) and u["low"] < u["high"]


def test_the_paired_null_estimate_maximises_the_constrained_likelihood():
    rng = np.random.default_rng(0)
    for _ in range(40):
        x11, x10, x01 = (int(v) for v in rng.integers(0, 8, size=3))
        n = x11 + x10 + x01 + int(rng.integers(1, 30))
        delta = float(rng.choice([0.5, 1.0, 1.5, 3.0]))
        x00 = n - x11 - x10 - x01

        def nll(v, delta=delta, x11=x11, x10=x10, x01=x01, x00=x00):
            p11, p01 = v
            p10 = (delta - 1) * p11 + delta * p01
            ps = np.array([p11, p10, p01, 1 - p11 - p10 - p01])
            xs = np.array([x11, x10, x01, x00])
            if (ps < -1e-12).any() or (ps[xs > 0] <= 0).any():
                return 1e9
            return -(xs[xs > 0] * np.log(ps[xs > 0])).sum()

        best = min(
            (
                optimize.minimize(nll, x0, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-12})
                for x0 in ([0.05, 0.05], [0.2, 0.1], [0.01, 0.2])
            ),
            key=lambda r: r.fun,
        )
        u = _paired_null_p01(x11, x10, x01, n, delta)
        p11 = ((x11 + x10 + x01) / n - (1 + delta) * u) / delta
        assert nll([p11, u]) <= best.fun + 1e-6


def test_independent_arms_use_statsmodels_miettinen_nurminen_score_and_interval():
    for x_a, x_b in [(10, 3), (5, 8), (1, 0), (20, 20)]:
        ref = sm_proportion.test_proportions_2indep(x_a, 40, x_b, 40, value=1.5, method="score", compare="ratio")
        assert float(_mn_scores(x_a, 40, x_b, 40, 1.5)) == pytest.approx(ref.statistic)
        result = unpaired_ratio(x_a, 40, x_b, 40, 1.5)
        low, high = sm_proportion.confint_proportions_2indep(x_a, 40, x_b, 40, method="score", compare="ratio")
        assert result["low"] == pytest.approx(low) and (result["high"] == pytest.approx(high) or x_b == 0)
    # The decision bound inverts the exact unconditional test the decision uses (at the crossing it finds).
    bound = unpaired_ratio_bound(20, 40, 5, 40, 0.95, "lower")
    assert unpaired_ratio(20, 40, 5, 40, bound)["p_beyond"] <= 0.05
    assert unpaired_ratio(20, 40, 5, 40, bound * 1.1)["p_beyond"] > 0.05


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("rate", [0.02, 0.05])
def test_a_fair_model_passes_at_least_95_percent_of_simulated_runs(paired, rate):
    """Equal rates in both arms (ratio 1, limit 1.5): the old upper-bound rule passed such a model ~30% of the time."""
    cell = ratio_cell(40, rate, 1.0, paired=paired, runs=400, seed=11)
    assert 1 - cell["rate"] >= 0.95


@pytest.mark.parametrize(("paired", "pairs", "rate"), [(True, 40, 0.2), (False, 40, 0.05), (True, 240, 0.05)])
def test_a_model_exactly_at_the_limit_fails_about_alpha_of_the_time(paired, pairs, rate):
    cell = ratio_cell(pairs, rate, 1.5, paired=paired, runs=1000, seed=12)
    assert cell["rate"] <= 0.05 + 0.02  # alpha plus about three simulation standard errors
    assert cell["coverage"] >= 0.93


def test_shared_seeds_across_templates_keep_the_error_rate():
    cell = ratio_cell(240, 0.05, 1.5, seed_clusters=20, seed_rho=0.3, runs=400, seed=13)
    assert cell["rate"] <= 0.05 + 0.025 and cell["coverage"] >= 0.92
