import numpy as np
from statsmodels.stats.proportion import multinomial_proportions_confint, proportion_confint

from audit.stats import goodman_intervals, wilson_interval


def test_wilson_matches_statsmodels():
    for count, n in [(0, 10), (3, 10), (10, 10), (37, 120), (1, 1000)]:
        low, high = wilson_interval(count, n)
        ref = proportion_confint(count, n, alpha=0.05, method="wilson")
        np.testing.assert_allclose([low, high], ref, atol=1e-12)


def test_goodman_matches_statsmodels():
    for counts in ([10, 20, 30], [0, 5, 40, 55], [3, 1, 0, 0, 6]):
        low, high = goodman_intervals(counts)
        ref = multinomial_proportions_confint(counts, alpha=0.05, method="goodman")
        np.testing.assert_allclose(np.stack([low, high], axis=1), np.clip(ref, 0, 1), atol=1e-12)


def test_no_images_give_the_whole_unit_interval():
    assert [float(v) for v in wilson_interval(0, 0)] == [0.0, 1.0]
    low, high = goodman_intervals([0, 0, 0])
    assert low.tolist() == [0, 0, 0] and high.tolist() == [1, 1, 1]


def test_wilson_covers_the_true_share_95_percent_of_simulated_audits():
    rng = np.random.default_rng(7)
    audits = 4000
    for share, n in [(0.3, 50), (0.5, 100), (0.12, 200)]:
        counts = rng.binomial(n, share, size=audits)
        low, high = wilson_interval(counts, n)
        coverage = np.mean((low <= share) & (share <= high))
        assert 0.93 <= coverage <= 0.97, (share, n, coverage)


def test_goodman_covers_all_shares_at_once_in_at_least_95_percent_of_audits():
    rng = np.random.default_rng(8)
    shares = np.array([0.5, 0.25, 0.15, 0.1])
    counts = rng.multinomial(150, shares, size=4000)
    low, high = goodman_intervals(counts)
    simultaneous = np.mean(np.all((low <= shares) & (shares <= high), axis=1))
    # Bonferroni over 4 labels: at least 95%, but not wildly conservative.
    assert 0.94 <= simultaneous <= 0.99, simultaneous
