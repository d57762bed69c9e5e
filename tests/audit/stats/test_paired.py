import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from audit.stats import mcnemar_exact, paired_comparison, unpaired_comparison


def test_mcnemar_matches_statsmodels_exact():
    rng = np.random.default_rng(0)
    a = rng.uniform(size=80) < 0.3
    b = np.where(rng.uniform(size=80) < 0.7, a, rng.uniform(size=80) < 0.5)
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    result = paired_comparison(a, b)
    assert result["test"] == "mcnemar exact"
    assert result["p_value"] == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert mcnemar_exact(0, 0) == 1.0


def test_unpaired_small_counts_use_fisher_and_large_ones_the_z_test_of_statsmodels():
    small = unpaired_comparison(1, 12, 5, 12)
    assert small["test"] == "fisher exact"
    assert small["p_value"] == pytest.approx(stats.fisher_exact([[1, 11], [5, 7]]).pvalue)
    large = unpaired_comparison(45, 150, 70, 160)
    assert large["test"] == "two-proportion z"
    assert large["p_value"] == pytest.approx(proportions_ztest([45, 70], [150, 160])[1])


def test_unpaired_intervals_match_statsmodels_newcombe_and_log_ratio():
    r = unpaired_comparison(45, 150, 70, 160)
    rd = confint_proportions_2indep(45, 150, 70, 160, method="newcomb", compare="diff")
    rr = confint_proportions_2indep(45, 150, 70, 160, method="log", compare="ratio")
    assert (r["rd_low"], r["rd_high"]) == pytest.approx(rd)
    assert (r["rr_low"], r["rr_high"]) == pytest.approx(rr)
    assert r["rr"] == pytest.approx((45 / 150) / (70 / 160))


def test_a_zero_count_still_gives_a_finite_ratio_interval():
    r = unpaired_comparison(0, 50, 5, 50)
    assert 0 < r["rr_low"] < r["rr_high"] < np.inf


def test_paired_intervals_cover_the_true_difference_and_ratio_in_simulated_audits():
    rng = np.random.default_rng(4)
    audits, pairs = 2000, 150
    # A shared seed makes the arms correlated: a latent per-seed propensity.
    latent = rng.uniform(size=(audits, pairs))
    a = latent < 0.30
    b = (latent < 0.15) | (latent > 0.95)  # 0.15 of seeds in both arms, 0.05 only in b
    true_rd, true_rr = 0.30 - 0.20, 0.30 / 0.20
    rd_hits = rr_hits = 0
    for i in range(audits):
        r = paired_comparison(a[i], b[i])
        rd_hits += r["rd_low"] <= true_rd <= r["rd_high"]
        rr_hits += r["rr_low"] <= true_rr <= r["rr_high"]
    assert 0.93 <= rd_hits / audits <= 0.97, rd_hits / audits
    assert 0.93 <= rr_hits / audits <= 0.97, rr_hits / audits
