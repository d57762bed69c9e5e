import numpy as np
import pytest

from audit.stats import amplification


def _simulate(slope: float, groups: int, n: int, rng: np.random.Generator):
    reference = rng.uniform(0.1, 0.9, size=groups)
    logit = np.log(reference / (1 - reference))
    model = 1 / (1 + np.exp(-slope * logit))
    return rng.binomial(n, model), np.full(groups, n), reference, model


def test_the_slope_interval_covers_a_planted_amplification():
    rng = np.random.default_rng(6)
    hits = 0
    audits = 1000
    for _ in range(audits):
        count, n, ref, _ = _simulate(1.4, 30, 200, rng)
        r = amplification(count, n, ref)
        hits += r["slope_low"] <= 1.4 <= r["slope_high"]
    assert 0.93 <= hits / audits <= 0.97, hits / audits


def test_a_model_that_copies_the_reference_has_slope_one_and_no_shift():
    rng = np.random.default_rng(7)
    count, n, ref, _ = _simulate(1.0, 60, 2000, rng)
    r = amplification(count, n, ref)
    assert r["slope_low"] <= 1.0 <= r["slope_high"]
    assert r["shift_low"] <= 0.0 <= r["shift_high"]


def test_exaggeration_shifts_towards_each_groups_majority():
    ref = np.array([0.2, 0.3, 0.7, 0.9])
    model = np.array([0.1, 0.2, 0.8, 0.95])
    r = amplification(model * 1000, np.full(4, 1000), ref)
    assert r["shift"] == pytest.approx(np.mean([0.1, 0.1, 0.1, 0.05]))
    assert r["slope"] > 1


def test_groups_without_a_reference_are_left_out():
    r = amplification([5, 6, 7, 3], [10, 10, 10, 10], [0.5, np.nan, 0.7, 0.2])
    assert r["groups"] == 3


def test_the_slope_is_statsmodels_weighted_least_squares_with_fitted_weights():
    import statsmodels.api as sm

    rng = np.random.default_rng(8)
    count, n, ref, _ = _simulate(1.2, 12, 80, rng)
    r = amplification(count, n, ref)
    share = (count + 0.5) / (n + 1)
    y, design = np.log(share / (1 - share)), sm.add_constant(np.log(ref / (1 - ref)))
    weights = n * share * (1 - share)
    for _ in range(2):
        fitted = 1 / (1 + np.exp(-sm.WLS(y, design, weights=weights).fit().fittedvalues))
        weights = n * fitted * (1 - fitted)
    fit = sm.WLS(y, design, weights=weights).fit()
    assert r["slope"] == pytest.approx(fit.params[1])
    assert (r["slope_low"], r["slope_high"]) == pytest.approx(tuple(fit.conf_int()[1]))
