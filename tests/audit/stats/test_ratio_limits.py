"""Risk ratios against a limit: paired and independent arms, zero-event arms, and the false-failure rate."""

import math

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats import proportion as sm_proportion

from audit.stats import paired_ratio, paired_ratio_bound, unpaired_ratio, unpaired_ratio_bound
from audit.stats.ratio_limits import _mn_scores, _paired_null_p01, unpaired_ratio_interval
from benchmarks.calibration import ratio_cell


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


def test_independent_arms_use_the_miettinen_nurminen_score_of_statsmodels_and_its_interval_where_no_arm_is_full():
    for x_a, x_b in [(10, 3), (5, 8), (1, 0), (20, 20), (0, 7)]:
        ref = sm_proportion.test_proportions_2indep(x_a, 40, x_b, 40, value=1.5, method="score", compare="ratio")
        assert float(_mn_scores(x_a, 40, x_b, 40, 1.5)) == pytest.approx(ref.statistic)
        result = unpaired_ratio(x_a, 40, x_b, 40, 1.5)
        low, high = sm_proportion.confint_proportions_2indep(x_a, 40, x_b, 40, method="score", compare="ratio")
        assert result["low"] == pytest.approx(low, rel=1e-6, abs=1e-12)
        assert result["high"] == pytest.approx(high, rel=1e-6) or x_b == 0
    # The decision bound inverts the exact unconditional test the decision uses (at the crossing it finds).
    bound = unpaired_ratio_bound(20, 40, 5, 40, 0.95, "lower")
    assert unpaired_ratio(20, 40, 5, 40, bound)["p_beyond"] <= 0.05
    assert unpaired_ratio(20, 40, 5, 40, bound * 1.1)["p_beyond"] > 0.05


def _every_table(most: int) -> np.ndarray:
    """(x_a, n_a, x_b, n_b) of every table with 1..most images per arm, as four columns."""
    rows = [
        (x_a, n_a, x_b, n_b)
        for n_a in range(1, most + 1)
        for n_b in range(1, most + 1)
        for x_a in range(n_a + 1)
        for x_b in range(n_b + 1)
        if x_a + x_b > 0
    ]
    return np.array(rows, float).T


def test_the_unpaired_interval_is_the_direct_inversion_of_the_score_on_every_table_up_to_15_per_arm():
    """Every table with n <= 15 per arm (18,000): the interval holds exactly the ratios on a fine grid whose
    two-sided score test does not reject, its finite ends are roots of the score, and it holds the estimate.
    statsmodels' closed form failed this on 124 tables of n <= 11, all with a full arm (x = n)."""
    x_a, n_a, x_b, n_b = _every_table(15)
    crit = stats.norm.ppf(0.975)
    low, high = unpaired_ratio_interval(x_a, n_a, x_b, n_b, 0.95)
    with np.errstate(divide="ignore"):
        estimate = (x_a / n_a) / (x_b / n_b)
    assert ((low <= estimate * (1 + 1e-9)) & (estimate <= high * (1 + 1e-9))).all()
    assert ((x_a == 0) == (low == 0)).all() and ((x_b == 0) == np.isinf(high)).all()
    # The finite ends are where the score is -+z.
    inner = (low > 0) & np.isfinite(low)
    assert _mn_scores(x_a[inner], n_a[inner], x_b[inner], n_b[inner], low[inner]) == pytest.approx(crit, abs=1e-6)
    inner = np.isfinite(high)
    assert _mn_scores(x_a[inner], n_a[inner], x_b[inner], n_b[inner], high[inner]) == pytest.approx(-crit, abs=1e-6)
    # Direct inversion on a grid of ratios 1e-5..1e5 (steps of 1%): accepted exactly inside the interval.
    grid = np.exp(np.arange(-11.5, 11.5, 0.01))
    for chunk in np.array_split(np.arange(len(x_a)), 40):
        z = _mn_scores(x_a[chunk, None], n_a[chunk, None], x_b[chunk, None], n_b[chunk, None], grid[None, :])
        accepted = np.abs(z) <= crit
        inside = (grid[None, :] >= low[chunk, None]) & (grid[None, :] <= high[chunk, None])
        near_an_end = np.isclose(grid[None, :], low[chunk, None], rtol=1e-7) | np.isclose(
            grid[None, :], high[chunk, None], rtol=1e-7
        )
        assert (accepted == inside)[~near_an_end].all()


def test_a_full_arm_gets_the_inverted_interval_that_holds_the_estimate():
    """The cases of issue 24: statsmodels gave 0.606-0.742, (0.444, 0.444) and an upper end of 0.3125."""
    result = unpaired_ratio(29, 55, 11, 11, 1.5)
    assert (round(result["low"], 3), round(result["high"], 3)) == (0.397, 0.742)  # Fagerland & Newcombe 2013
    result = unpaired_ratio(1, 11, 7, 7, 1.5)
    assert result["low"] < 1 / 11 < result["high"]
    result = unpaired_ratio(0, 11, 5, 5, 1.5)
    assert result["low"] == 0 and result["high"] == pytest.approx(0.2714, abs=1e-4)
    # Effective (fractional) counts of a design effect take the same path.
    low, high = unpaired_ratio_interval(29 / 1.3, 55 / 1.3, 11 / 1.3, 11 / 1.3)
    assert low < 29 / 55 < high and 0.397 > low and high > 0.742


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
