"""The amplification slope: statsmodels' GLM, unbiased at realistic sizes, judged on its bound."""

import numpy as np
import pytest
import statsmodels.api as sm

from audit.stats import amplification, slope_bound, slope_p_values
from audit.stats.amplification import _design, cluster_covariance
from benchmarks.calibration import amplification_cell, bls_shares


def _simulate(slope: float, groups: int, n: int, rng: np.random.Generator):
    reference = rng.uniform(0.1, 0.9, size=groups)
    logit = np.log(reference / (1 - reference))
    model = 1 / (1 + np.exp(-slope * logit))
    return rng.binomial(n, model), np.full(groups, n), reference


def test_the_slope_is_statsmodels_binomial_glm_with_cluster_robust_errors():
    rng = np.random.default_rng(8)
    count, n, ref = _simulate(1.2, 12, 80, rng)
    templates = np.arange(12) % 2
    clusters = np.arange(12) // 2
    r = amplification(count, n, ref, clusters=clusters, templates=templates)
    design = _design(np.log(ref / (1 - ref)), templates)
    fit = sm.GLM(np.column_stack([count, n - count]), design, family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": clusters}
    )
    assert r["slope"] == pytest.approx(fit.params[1]) and r["slope_se"] == pytest.approx(fit.bse[1])
    assert r["slope_df"] == 5


def test_the_sandwich_matches_statsmodels_one_way_and_two_way():
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=300), rng.integers(0, 3, 300)
    g, s = rng.integers(0, 20, 300), rng.integers(0, 8, 300)
    n = rng.integers(1, 5, 300).astype(float)
    c = rng.binomial(n.astype(int), 1 / (1 + np.exp(-x))).astype(float)
    design = _design(x, t)
    model = sm.GLM(np.column_stack([c, n - c]), design, family=sm.families.Binomial())
    mu = model.fit().mu
    scores = design * (c - n * mu)[:, None]
    bread = np.linalg.inv(design.T @ (design * (n * mu * (1 - mu))[:, None]))
    for groups in (g, s):
        np.testing.assert_allclose(
            cluster_covariance(design, scores, bread, groups),
            model.fit(cov_type="cluster", cov_kwds={"groups": groups}).cov_params(),
            rtol=1e-6,
        )
    two_way = sum(cluster_covariance(design, scores, bread, k) * w for k, w in ((g, 1), (s, 1), (g * 100 + s, -1)))
    reference = model.fit(cov_type="cluster", cov_kwds={"groups": np.column_stack([g, s])}).cov_params()
    np.testing.assert_allclose(two_way, reference, rtol=1e-6)


def test_realistic_sizes_with_template_effects_are_unbiased_and_covered():
    """185 BLS occupations (shares 0.7%-97.6%), 3 templates x 10 seeds: the WLS slope was 1.45 for 1.5 with 57-68%
    coverage; the GLM's is unbiased and its interval covers."""
    cell = amplification_cell(1.5, template_effects=True, runs=40, seed=21, seed_blocks=True)
    assert cell["mean_slope"] == pytest.approx(1.5, abs=0.02) and cell["coverage"] >= 0.9
    # Seeds shared by every prompt, their noise correlated: jackknife-corrected, two-way clustered.
    at_limit = amplification_cell(1.1, template_effects=True, seed_rho=0.1, runs=50, seed=22)
    assert at_limit["mean_slope"] == pytest.approx(1.1, abs=0.02)
    assert at_limit["rate"] <= 0.05 + 0.06  # alpha plus two simulation standard errors of 50 runs


def test_judged_on_the_bound_not_the_estimate():
    rng = np.random.default_rng(7)
    count, n, ref = _simulate(1.0, 60, 2000, rng)
    r = amplification(count, n, ref)
    harm, safety = slope_p_values(r, 1.1)
    assert harm > 0.05 and safety < 0.05  # a model that copies the reference: no harm shown, safety shown
    assert slope_bound(r, 0.95, "lower") < r["slope"] < slope_bound(r, 0.95, "upper")
    assert r["shift_low"] <= 0.0 <= r["shift_high"]


def test_extreme_and_zero_reference_shares_are_floored_not_dropped():
    shares = bls_shares()
    assert shares.min() < 0.01 and shares.max() > 0.97
    r = amplification([0, 3, 5, 9], [10, 10, 10, 10], [0.0, 0.3, 0.5, 1.0])
    assert r["groups"] == 4 and r["reference_floored"] == 2 and np.isfinite(r["slope"])


def test_groups_without_a_reference_are_left_out():
    r = amplification([5, 6, 7, 3], [10, 10, 10, 10], [0.5, np.nan, 0.7, 0.2])
    assert r["groups"] == 3


def test_batched_slopes_are_the_glm_slope_of_each_draw():
    # The paired comparison's bootstrap and permutation draws use the batched fit: it must be the same
    # maximum-likelihood slope as the check's statsmodels GLM, template intercepts included.
    from audit.stats import slopes

    rng = np.random.default_rng(3)
    ref = rng.uniform(0.05, 0.95, 24)
    n = rng.integers(3, 30, 24)
    templates = np.repeat(["a photo of", "a portrait of"], 12)
    truth = 1 / (1 + np.exp(-(0.3 + 1.4 * np.log(ref / (1 - ref)))))
    counts = rng.binomial(np.tile(n, (30, 1)), truth)
    batched = slopes(counts, n, ref, templates=templates)
    for row, value in zip(counts, batched, strict=True):
        assert value == pytest.approx(amplification(row, n, ref, templates=templates)["slope"], abs=1e-6)
    # A draw with no variation in the label has no slope: NaN, never a number.
    assert np.isnan(slopes(np.zeros((1, 24)), n, ref, templates=templates)[0])


def test_groups_that_separate_the_fit_give_no_slope_rather_than_a_huge_one():
    # Guidance pushed every skewed group to 0% or 100% (the sandbox at guidance 3): with the balanced
    # groups in between, a logit line separates them and the likelihood rises without end. The slope
    # is not identified, so there is none (the check is not judged), not 12 with an interval of +-50.
    ref = np.array([0.8, 0.8, 0.05, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3])
    n = np.full(10, 40)
    count = np.array([40, 40, 0, 10, 15, 12, 14, 9, 13, 11])
    groups = np.arange(10)
    assert np.isnan(amplification(count, n, ref, clusters=groups)["slope"])
    seeds = np.tile(np.arange(4), 10)
    per_seed = np.repeat(count / 4, 4).round()
    two_way = amplification(
        per_seed, np.full(40, 10), np.repeat(ref, 4), clusters=np.column_stack([np.repeat(groups, 4), seeds])
    )
    assert np.isnan(two_way["slope"])
    from audit.stats import slopes

    assert np.isnan(slopes(count[None], n, ref)[0])
    # One group short of all-or-nothing is no separation: a finite, large slope with its interval.
    count[0] = 39
    finite = amplification(count, n, ref, clusters=groups)
    assert np.isfinite(finite["slope"]) and finite["slope_low"] < finite["slope"] < finite["slope_high"]
