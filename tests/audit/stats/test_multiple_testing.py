import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from audit.stats import benjamini_hochberg, deviations


def test_matches_statsmodels_and_scipy():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.uniform(size=40), rng.uniform(0, 0.01, size=10)])
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected)
    np.testing.assert_allclose(benjamini_hochberg(p), stats.false_discovery_control(p))


def test_missing_p_values_are_not_counted_as_tests():
    p = np.array([0.01, np.nan, 0.04, 0.03])
    out = benjamini_hochberg(p)
    assert np.isnan(out[1])
    np.testing.assert_allclose(out[[0, 2, 3]], multipletests([0.01, 0.04, 0.03], method="fdr_bh")[1])


def _simulated_labels(audits: int, shares: np.ndarray, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Labels of ``audits`` simulated runs, each with one group per row of ``shares`` and ``n`` images per group."""
    groups, k = shares.shape
    labels = np.array([f"l{j}" for j in range(k)])
    u = rng.uniform(size=(audits, groups, n, 1))
    drawn = (u > np.cumsum(shares, axis=1)[None, :, None, :]).sum(axis=-1)
    audit_idx, group_idx, image_idx = np.indices((audits, groups, n)).reshape(3, -1)
    return pd.DataFrame(
        {
            "record_id": np.arange(audits * groups * n).astype(str),
            "classifier": "sim",
            "attribute": "gender",
            "label": labels[drawn.ravel()],
            "audit": audit_idx,
            "group": group_idx,
        }
    )


@pytest.mark.parametrize(("nulls", "alts"), [(20, 0), (16, 4)])
def test_bh_keeps_the_false_discovery_rate_at_or_below_nominal_across_simulated_runs(nulls, alts):
    """1000 simulated runs of 20 prompts with 60 images each, tested against parity and BH-adjusted per run."""
    rng = np.random.default_rng(5 + alts)
    shares = np.array([[0.5, 0.5]] * nulls + [[0.7, 0.3]] * alts)
    table = deviations(_simulated_labels(1000, shares, 60, rng), by=["audit", "group"])
    p = table.pivot(index="audit", columns="group", values="p_value").to_numpy()
    rejected = np.stack([benjamini_hochberg(row) for row in p]) < 0.05
    false = rejected[:, :nulls].sum(axis=1)
    fdr = np.mean(false / np.maximum(rejected.sum(axis=1), 1))
    assert fdr <= 0.05, fdr
    if alts:
        assert rejected[:, nulls:].mean() > 0.5  # and the true deviations are still found
