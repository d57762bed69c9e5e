"""The gate's statistics against the published worked examples of the methods they implement.

Each test names its source (paper, table or example) and where the printed
figures were read: the paper itself or the published-example tests of a
maintained package (ratesci, DescTools, statsmodels), which quote them. Values
are compared at the precision they were printed to. Where a published value
and our method differ by a convention (a variance factor, rounding), the test
checks our convention and says so. Statistics with no published example (the
Rao-Scott design effect, the amplification GLM with clustered errors) are
checked against an independent implementation or a hand computation at the end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from audit.stats import (
    HARM,
    adjusted_p_values,
    amplification,
    benjamini_hochberg,
    clopper_pearson,
    cluster_dispersion,
    effective_counts,
    goodman_intervals,
    mcnemar_exact,
    paired_ratio,
    unpaired_ratio,
    unpaired_ratio_interval,
    wilson_interval,
)
from audit.stats.amplification import _design
from audit.stats.paired_runs import paired_difference_interval
from benchmarks.calibration import bls_shares


def _rounded(values, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def _pairs(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired outcomes of a 2x2 table (x11, x12, x21, x22): arm A is the row, arm B the column."""
    a = np.repeat([True, True, False, False], [both, only_a, only_b, neither])
    b = np.repeat([True, False, True, False], [both, only_a, only_b, neither])
    return a, b


# --- paired difference: Tango's score interval (audit.stats.paired_runs) ------------------------------

# (x11, x12, x21, x22), confidence, printed interval of p1 - p2 = (x12 - x21) / N, source.
TANGO = [
    ((4, 9, 3, 16), 0.95, (-0.027, 0.390), "Tango 1998 (Statistics in Medicine), 95%"),
    ((43, 0, 1, 0), 0.90, (-0.096, 0.037), "Tango 1998 (Statistics in Medicine), 90%"),
    ((53, 16, 8, 9), 0.95, (-0.020, 0.207), "Agresti & Min 2005 (Statistics in Medicine), Tango's interval"),
    (
        (1, 1, 7, 12),
        0.95,
        (-0.517, -0.026),
        "Fagerland, Lydersen & Laake 2014 (Statistics in Medicine), Bentur et al. data",
    ),
]


@pytest.mark.parametrize(("table", "confidence", "printed", "source"), TANGO, ids=[t[3] for t in TANGO])
def test_tango_paired_difference_interval(table, confidence, printed, source):
    """Printed to 3 decimals; the same values are in ratesci's tests (tests/testthat/test3.R, "Tango RD",
    "Agresti & Min 2005", "Fagerland et al 2014")."""
    x11, x12, x21, x22 = table
    estimate, low, high = paired_difference_interval(x11, x12, x21, x22, confidence)
    assert estimate == pytest.approx((x12 - x21) / sum(table))
    assert _rounded((low, high), 3) == list(printed)


# --- paired ratio: Tang, Tang & Chan's score interval (audit.stats.ratio_limits.paired_ratio) ---------

# (x11, x12, x21, x22), confidence, printed interval of p1 / p2 = (x11 + x12) / (x11 + x21), digits, source.
TANG = [
    ((43, 0, 1, 0), 0.90, (0.904, 1.039), 3, "Tang, Tang & Chan 2003 (Biometrical Journal), Tango's data"),
    ((446, 5, 16, 690), 0.90, (0.958, 0.992), 3, "Tang, Tang & Chan 2003 (Biometrical Journal), second example"),
    ((1, 1, 7, 12), 0.95, (0.0653, 0.9069), 4, "Fagerland et al. 2014's Bentur data (DelRocco et al. 2022's RR)"),
]


@pytest.mark.parametrize(("table", "confidence", "printed", "digits", "source"), TANG, ids=[t[4] for t in TANG])
def test_tang_paired_ratio_interval(table, confidence, printed, digits, source):
    """Values as ratesci's tests quote them (test3.R, "Tang(NS) 2003 RR" and "DelRocco 2022 RR example").
    ratesci notes that Tang et al. appear to have rounded their two limits down; like ratesci we test the
    values rounded to the nearest, which is our convention too."""
    a, b = _pairs(*table)
    result = paired_ratio(a, b, 1.5, confidence=confidence)
    x11, x12, x21, _ = table
    assert result["ratio"] == pytest.approx((x11 + x12) / (x11 + x21))
    assert _rounded((result["low"], result["high"]), digits) == list(printed)


# --- independent ratio: Miettinen-Nurminen (audit.stats.ratio_limits.unpaired_ratio) ------------------

# x_a / n_a vs x_b / n_b, printed 95% interval of the ratio.
MIETTINEN_NURMINEN = [
    ((24, 73, 53, 65), (0.280, 0.560)),
    ((29, 55, 11, 11), (0.397, 0.742)),
    ((7, 18, 1, 18), (1.296, 42.544)),
]


@pytest.mark.parametrize(("counts", "printed"), MIETTINEN_NURMINEN, ids=["24-73-53-65", "29-55-11-11", "7-18-1-18"])
def test_miettinen_nurminen_ratio_interval(counts, printed):
    """Fagerland & Newcombe 2013 (Statistics in Medicine), the Miettinen-Nurminen intervals of their
    three examples (quoted in ratesci's test3.R, "Fagerland Newcombe for RR"). 29/55 vs 11/11 has a full
    arm: statsmodels' closed form gives 0.606-0.742 there, ours inverts the score (issue 24)."""
    result = unpaired_ratio(*counts, 1.5)
    assert _rounded((result["low"], result["high"]), 3) == list(printed)
    assert result["low"] <= result["ratio"] <= result["high"]


def test_koopman_ratio_interval_and_the_miettinen_nurminen_convention():
    """Koopman 1984, Biometrics 40:513: 36/40 vs 16/80, the example Nam 1995 (Biometrical Journal) works
    again. DescTools' BinomRatioCI(method = "koopman") documents it as 2.939581-7.152209; another package's
    test quotes the paper as 2.93-7.15, a truncation of the same value. Koopman's score has no variance
    factor; Miettinen & Nurminen's, which we use, multiplies the variance by N / (N - 1) = 120/119, so our
    interval is a little wider (2.935-7.166). Without the factor it is Koopman's."""
    low, high = unpaired_ratio_interval(36, 40, 16, 80, variance_correction=False)
    # DescTools finds the ends by root finding to a tolerance of eps^0.25 (1.2e-4): they agree to 4 decimals.
    assert _rounded((low, high), 4) == [2.9396, 7.1522]
    result = unpaired_ratio(36, 40, 16, 80, 1.5)
    assert _rounded((result["low"], result["high"]), 3) == [2.935, 7.166]
    assert result["low"] < low and result["high"] > high


# --- Goodman's simultaneous intervals (audit.stats.intervals) -----------------------------------------


def test_goodman_simultaneous_intervals_of_sison_and_glaz():
    """Sison & Glaz 1995, JASA 90:366, the Goodman intervals of their first example (counts 56, 72, 73, 59, 62,
    87, 58; n = 467, 95%), printed to 3 decimals; quoted in DescTools' MultinomCI documentation."""
    low, high = goodman_intervals([56, 72, 73, 59, 62, 87, 58], 0.95)
    assert _rounded(low, 3) == [0.085, 0.115, 0.116, 0.091, 0.096, 0.143, 0.089]
    assert _rounded(high, 3) == [0.166, 0.204, 0.207, 0.173, 0.181, 0.239, 0.171]


# --- one proportion: Wilson and Clopper-Pearson (audit.stats.intervals, audit.stats.rate_limits) ------

NEWCOMBE = [
    ((15, 148), (0.0624, 0.1605), (0.0578, 0.1617)),
    ((0, 20), (0.0, 0.1611), (0.0, 0.1684)),
    ((1, 29), (0.0061, 0.1718), (0.0009, 0.1776)),
]


@pytest.mark.parametrize(("counts", "wilson", "exact"), NEWCOMBE, ids=["15-148", "0-20", "1-29"])
def test_wilson_and_clopper_pearson_of_newcombe(counts, wilson, exact):
    """Newcombe 1998, Statistics in Medicine 17:857, the Wilson and exact (Clopper-Pearson) intervals of
    its examples, printed to 4 decimals; quoted
    in ratesci's test3.R ("Single proportion, Newcombe examples")."""
    x, n = counts
    assert _rounded(wilson_interval(x, n, 0.95), 4) == list(wilson)
    assert _rounded(clopper_pearson(x, n, 0.95), 4) == list(exact)


# --- exact McNemar (audit.stats.paired) --------------------------------------------------------------


def test_exact_mcnemar_of_fagerland():
    """Fagerland, Lydersen & Laake 2013, BMC Medical Research Methodology 13:91, the Bentur et al. airway data
    (1 and 7 discordant pairs): the exact conditional McNemar test gives P = 0.070 (2 * 9/256 = 0.0703)."""
    assert round(mcnemar_exact(1, 7), 3) == 0.070
    assert mcnemar_exact(7, 1) == mcnemar_exact(1, 7)


# --- Benjamini-Hochberg (audit.stats.multiple_testing, audit.stats.decision) -------------------------

BH_1995 = [0.0001, 0.0004, 0.0019, 0.0095, 0.0201, 0.0278, 0.0298, 0.0344, 0.0459, 0.3240, 0.4262, 0.5719, 0.6528,
           0.7590, 1.000]  # fmt: skip


def test_benjamini_hochberg_fifteen_p_values():
    """Benjamini & Hochberg 1995, JRSS B 57:289: the fifteen p-values of the Neuhaus et al. trial;
    at q = 0.05 the step-up rule rejects the four smallest (statsmodels' test_fdr_bky cites the same). The
    fourth's adjusted value is 0.0095 * 15 / 4; the check's decision rule gives the same."""
    adjusted = benjamini_hochberg(BH_1995)
    assert (adjusted <= 0.05).tolist() == [True] * 4 + [False] * 11
    assert adjusted[3] == pytest.approx(0.0095 * 15 / 4)
    np.testing.assert_allclose(adjusted_p_values(np.array(BH_1995), HARM), adjusted)
    shuffled = np.random.default_rng(0).permutation(15)
    assert benjamini_hochberg(np.array(BH_1995)[shuffled]) == pytest.approx(adjusted[shuffled])


# --- no published example: an independent implementation or a hand computation ----------------------


def test_rao_scott_design_effect_by_hand():
    """Two prompts' images grouped by seed. Prompt g1: seeds with (a, b) = (2, 0), (0, 2), (1, 1); shares
    1/2, expected (1, 1) per seed, Pearson X2 = 2 + 2 + 0 = 4 on (3 - 1)(2 - 1) = 2 df. Prompt g2: seeds
    (1, 1), (2, 0); shares 3/4, expected (1.5, 0.5), X2 = 0.25/1.5 + 0.25/0.5 + 0.25/1.5 + 0.25/0.5 = 4/3 on
    1 df. Pooled: (4 + 4/3) / 3 = 16/9. Rao & Scott's first-order correction divides the counts by it."""
    rows = [("g1", 0, "a"), ("g1", 0, "a"), ("g1", 1, "b"), ("g1", 1, "b"), ("g1", 2, "a"), ("g1", 2, "b")]
    rows += [("g2", 0, "a"), ("g2", 0, "b"), ("g2", 1, "a"), ("g2", 1, "a")]
    frame = pd.DataFrame(rows, columns=["prompt", "seed", "label"])
    phi = cluster_dispersion(frame, groups=["prompt"], cluster="seed", labels=["a", "b"])
    assert phi == pytest.approx(16 / 9)
    g1 = frame[frame["prompt"] == "g1"]
    assert cluster_dispersion(g1, groups=["prompt"], cluster="seed", labels=["a", "b"]) == pytest.approx(2.0)
    # 3 and 3 images over 2: 1.5 and 1.5, rounded keeping the total of 3 (the largest remainder, first).
    assert effective_counts([3, 3], 2.0).tolist() == [2, 1]
    # 30 and 10 over 16/9: 16.875 and 5.625, total 22.5, rounded to 22 (half to even); the larger remainder first.
    assert effective_counts([30, 10], 16 / 9).tolist() == [17, 5]


def test_amplification_slope_and_standard_error_are_statsmodels_cluster_robust_glm_at_bls_shares():
    """The check's design at realistic size: 185 BLS occupations x 3 templates (one intercept each), 10 images
    per prompt, errors clustered by occupation; slope and standard error equal statsmodels' binomial GLM with
    cov_type="cluster" (its small-sample factor G/(G-1) * (N-1)/(N-K) included)."""
    rng = np.random.default_rng(3)
    shares = np.repeat(bls_shares(), 3)
    occupation = np.repeat(np.arange(len(bls_shares())), 3)
    templates = np.tile(np.arange(3), len(bls_shares()))
    x = np.log(np.clip(shares, 0.005, 0.995) / (1 - np.clip(shares, 0.005, 0.995)))
    prob = 1 / (1 + np.exp(-(1.2 * x + np.array([-0.3, 0.0, 0.4])[templates])))
    count, n = rng.binomial(10, prob), np.full(len(prob), 10)
    ours = amplification(count, n, shares, clusters=occupation, templates=templates)
    fit = sm.GLM(np.column_stack([count, n - count]), _design(x, templates), family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": occupation}
    )
    assert ours["slope"] == pytest.approx(fit.params[1], rel=1e-6)
    assert ours["slope_se"] == pytest.approx(fit.bse[1], rel=1e-6)
    assert ours["slope_df"] == len(bls_shares()) - 1
