import numpy as np
import pandas as pd
import pytest
from scipy import stats

from audit.stats import (
    Reference,
    deviations,
    goodness_of_fit,
    heim_deviation,
    image_labels,
    kl_divergence,
    max_gap,
    mean_absolute_deviation,
    normalised_entropy,
    tv_distance,
)
from audit.stats.deviation import _compositions
from tests.audit.stats.simulated import make_items, simulate_scores


def test_distances_against_scipy():
    p = np.array([0.6, 0.3, 0.1])
    q = np.array([0.2, 0.5, 0.3])
    assert tv_distance(p, q) == pytest.approx(0.4)
    assert max_gap(p, q) == pytest.approx(0.4)
    assert kl_divergence(p, q) == pytest.approx(stats.entropy(p, q))
    assert normalised_entropy(p) == pytest.approx(stats.entropy(p) / np.log(3))
    assert normalised_entropy([0.25] * 4) == pytest.approx(1.0) and normalised_entropy([1, 0, 0]) == 0
    assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == np.inf


def test_published_scores_dalleval_mad_and_heim_keep_their_definitions():
    # DALL-Eval: shares over labelled images; HEIM: abstentions stay in the denominator.
    assert mean_absolute_deviation([0.8, 0.2]) == pytest.approx(0.3)
    assert heim_deviation([6, 2], 2) == pytest.approx((abs(0.6 - 0.5) + abs(0.2 - 0.5)) / 2)


def test_chi_square_branch_matches_scipy_when_outcomes_are_many_and_counts_large():
    stat, p, method = goodness_of_fit([60, 45, 55, 40], [0.25] * 4)
    ref = stats.chisquare([60, 45, 55, 40])
    assert method == "chi-square"
    assert (stat, p) == pytest.approx((ref.statistic, ref.pvalue))


def test_two_labels_get_the_exact_binomial_test_of_scipy():
    for x, n, q in [(7, 10, 0.3), (0, 12, 0.2), (9, 9, 0.5), (2, 15, 0.25), (38, 60, 0.5), (160, 300, 0.6)]:
        _, p, method = goodness_of_fit([x, n - x], [q, 1 - q])
        assert method == "exact multinomial"
        assert p == pytest.approx(stats.binomtest(x, n, q).pvalue, rel=1e-9)


def test_exact_multinomial_enumerates_every_outcome_and_monte_carlo_agrees():
    outcomes = _compositions(6, 3)
    assert len(outcomes) == 28 and set(outcomes.sum(axis=1)) == {6}
    counts, q = [5, 1, 0, 1], [0.2, 0.3, 0.3, 0.2]
    _, exact, method = goodness_of_fit(counts, q)
    assert method == "exact multinomial"
    # Force the Monte-Carlo branch on the same data.
    import audit.stats.deviation as deviation

    old = deviation.EXACT_LIMIT
    deviation.EXACT_LIMIT = 1
    try:
        _, mc, mc_method = goodness_of_fit(counts, q, rng=np.random.default_rng(0), mc_samples=40_000)
    finally:
        deviation.EXACT_LIMIT = old
    assert mc_method == "monte-carlo multinomial"
    assert abs(mc - exact) < 0.01


def test_a_zero_reference_share_is_floored_not_impossible():
    """A BLS row of 0%: one image of that label is unlikely under the reference, not impossible (p = 0 before)."""
    stat, p, method = goodness_of_fit([29, 1], [1.0, 0.0])
    assert 0 < p < 0.05 and "floored at 0.001" in method
    assert goodness_of_fit([3, 0], [1.0, 0.0])[1] == 1.0


def test_the_table_intervals_cover_the_true_distance_and_zero():
    """tv_low/tv_high invert the tests against a limit: they cover TV = 0, where a bootstrap never did."""
    rng = np.random.default_rng(11)
    for shares, n in (([1 / 3, 1 / 3, 1 / 3], 40), ([0.5, 0.3, 0.2], 150)):
        shares = np.array(shares)
        truth = tv_distance(shares, np.full(3, 1 / 3))
        rows = []
        for audit in range(80):
            for i, label in enumerate(rng.choice(3, size=n, p=shares)):
                rows.append(
                    {
                        "record_id": f"{audit}-{i}",
                        "classifier": "c",
                        "attribute": "g",
                        "label": f"l{label}",
                        "audit": audit,
                    }
                )
        table = deviations(pd.DataFrame(rows), by=["audit"])
        coverage = np.mean((table.tv_low <= truth + 1e-9) & (truth - 1e-9 <= table.tv_high))
        assert coverage >= 0.93, (shares, coverage)


def test_deviation_table_against_parity_and_the_probes_reference():
    items = make_items({"nurse": 87.9, "doctor": 43.8, "pilot": 50.0})
    shares = {
        items[0].item_id: {"woman": 0.99, "man": 0.01},
        items[1].item_id: {"woman": 0.1, "man": 0.9},
        items[2].item_id: {"woman": 0.5, "man": 0.5},
    }
    scores, records = simulate_scores(items, shares, seeds=200, rng=np.random.default_rng(2))
    labels = image_labels(scores, records, items)
    parity = deviations(labels, by=["occupation"]).set_index("occupation")
    assert parity.loc["nurse", "tv"] > 0.4 and parity.loc["nurse", "p_adjusted"] < 1e-6
    assert parity.loc["nurse", "tv_low"] <= parity.loc["nurse", "tv"] <= parity.loc["nurse", "tv_high"]
    assert len(parity.loc["nurse", "evidence"]) == 200
    assert (parity.p_adjusted >= parity.p_value).all()
    bls = deviations(labels, by=["occupation"], reference=Reference.probe("pct_women", "woman"))
    bls = bls.set_index("occupation")
    assert bls.loc["nurse", "expected"] == "man=0.121, woman=0.879"
    assert bls.loc["nurse", "tv"] == pytest.approx(abs(0.879 - parity.loc["nurse", "tv"] - 0.5), abs=1e-9)
    target = deviations(labels, by=["occupation"], reference=Reference.target_shares({"woman": 1, "man": 1}))
    np.testing.assert_allclose(target.tv, parity.tv)


def test_groups_without_a_reference_figure_are_left_untested():
    items = make_items({"nurse": 87.9}) + make_items({"astronaut": None})
    shares = {i.item_id: {"woman": 0.5, "man": 0.5} for i in items}
    scores, records = simulate_scores(items, shares, seeds=20, rng=np.random.default_rng(3))
    table = deviations(
        image_labels(scores, records, items),
        by=["occupation"],
        reference=Reference.probe("pct_women", "woman"),
    )
    row = table.set_index("occupation").loc["astronaut"]
    assert np.isnan(row.tv) and row.test == "none" and np.isnan(row.p_adjusted)


def test_an_unknown_target_label_is_named():
    labels = pd.DataFrame(
        {"record_id": ["a"], "classifier": ["c"], "attribute": ["g"], "label": ["man"], "occupation": ["x"]}
    )
    with pytest.raises(ValueError, match="womn"):
        deviations(labels, by=["occupation"], reference=Reference.target_shares({"womn": 1.0}))


def test_a_probe_reference_can_be_a_whole_planted_distribution():
    """Each item's reference holds label shares (a planted world); each group is judged against its own."""
    import numpy as np

    rng = np.random.default_rng(3)
    rows = []
    planted = {"a": {"x": 0.8, "y": 0.1, "z": 0.1}, "b": {"x": 1, "y": 1, "z": 1}}  # any scale: normalised
    for occupation, shares in planted.items():
        p = np.array(list(shares.values()), float)
        for i, label in enumerate(rng.choice(["x", "y", "z"], size=300, p=p / p.sum())):
            rows.append(
                {
                    "record_id": f"{occupation}{i}",
                    "classifier": "c",
                    "attribute": "tone",
                    "label": label,
                    "occupation": occupation,
                    "reference": {"planted": shares},
                }
            )
    table = deviations(pd.DataFrame(rows), by=["occupation"], reference=Reference.probe("planted", scale=1))
    assert table["expected"].tolist() == ["x=0.800, y=0.100, z=0.100", "x=0.333, y=0.333, z=0.333"]
    assert (table["tv"] < 0.1).all() and (table["p_value"] > 0.01).all()
    against_parity = deviations(pd.DataFrame(rows), by=["occupation"])
    assert against_parity.loc[0, "tv"] > 0.4  # occupation a is far from parity, but as planted


def test_one_label_of_a_planted_distribution_is_its_normalised_share():
    """Amplification reads one label's share; from a mapping of label shares it is normalised, scale unused."""
    import numpy as np

    from audit.stats import group_counts

    rows = [
        {
            "record_id": f"{o}{i}",
            "classifier": "c",
            "attribute": "badge",
            "label": "amber" if i % 2 else "violet",
            "occupation": o,
            "reference": {"marker": shares},
        }
        for o, shares in {"nurse": {"amber": 90, "violet": 10}, "chef": {"amber": 1, "violet": 1}}.items()
        for i in range(4)
    ]
    gc = next(group_counts(pd.DataFrame(rows), by=["occupation"]))
    expected = Reference.probe("marker", "amber", scale=100).shares(gc)
    np.testing.assert_allclose(expected, [[0.5, 0.5], [0.9, 0.1]])  # groups sorted: chef, nurse
