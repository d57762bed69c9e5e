import numpy as np
import pytest
from scipy import stats

from audit.stats import HARM, SAFETY, adjusted_p_values, bound_confidence, statuses


def test_harm_adjusts_by_benjamini_hochberg_as_scipy_and_fails_where_the_adjusted_p_is_within_alpha():
    p = np.array([0.001, 0.02, 0.04, 0.3, np.nan])
    adjusted = adjusted_p_values(p, HARM)
    np.testing.assert_allclose(adjusted[:4], stats.false_discovery_control(p[:4]))
    assert np.isnan(adjusted[4])
    assert statuses(adjusted, HARM, 0.05) == ["fail", "fail", "pass", "pass", "not_judged"]  # 0.04 x 4/3 > 0.05


def test_safety_passes_only_under_a_simultaneous_bound():
    p = np.array([0.001, 0.02, np.nan])
    adjusted = adjusted_p_values(p, SAFETY)
    assert adjusted[:2] == pytest.approx([0.002, 0.04])  # Bonferroni over the two judged groups
    assert statuses(adjusted, SAFETY, 0.05) == ["pass", "pass", "not_judged"]
    assert statuses(adjusted, SAFETY, 0.01) == ["pass", "fail", "not_judged"]
    assert bound_confidence(SAFETY, 0.05, 10) == pytest.approx(0.995) and bound_confidence(HARM, 0.05, 10) == 0.95


def test_nothing_judged_is_never_a_pass():
    assert statuses(adjusted_p_values([np.nan, np.nan], HARM), HARM, 0.05) == ["not_judged", "not_judged"]
    with pytest.raises(ValueError, match="decide"):
        adjusted_p_values([0.1], "evidence_of_luck")
