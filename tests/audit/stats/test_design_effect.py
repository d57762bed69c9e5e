import numpy as np
import pandas as pd
from scipy import stats

from audit.stats import cluster_dispersion, effective_counts
from benchmarks.calibration import pooled_deviation_cell


def _pooled(rho: float, rng, occupations=60, templates=3, seeds=10):
    z = rng.normal(size=(occupations, seeds))
    latent = np.sqrt(rho) * z[:, None, :] + np.sqrt(1 - rho) * rng.normal(size=(occupations, templates, seeds))
    labels = stats.norm.cdf(latent) < 0.5
    return pd.DataFrame(
        {
            "occupation": np.repeat(np.arange(occupations), templates * seeds),
            "seed": np.tile(np.arange(seeds), occupations * templates),
            "label": np.where(labels.ravel(), "a", "b"),
        }
    )


def test_images_sharing_seeds_inflate_the_variance_and_independent_ones_do_not():
    rng = np.random.default_rng(0)
    independent = cluster_dispersion(_pooled(0.0, rng), groups=["occupation"], cluster="seed", labels=["a", "b"])
    shared = cluster_dispersion(_pooled(0.5, rng), groups=["occupation"], cluster="seed", labels=["a", "b"])
    assert independent < 1.3 and shared > 1.5
    one_each = pd.DataFrame({"g": [0, 0, 1], "seed": [0, 1, 0], "label": ["a", "b", "a"]})
    assert cluster_dispersion(one_each, groups=["g"], cluster="seed", labels=["a", "b"]) == 1.0


def test_effective_counts_keep_the_shares_and_shrink_the_size():
    assert effective_counts([20, 10], 2.0).tolist() == [10, 5]
    assert effective_counts([7, 3], 1.0).tolist() == [7, 3]
    assert effective_counts([10, 10, 1], 3.0).sum() == 7


def test_pooled_groups_with_shared_seeds_keep_the_gate_within_alpha_and_their_interval_covers():
    cell = pooled_deviation_cell(tv=0.2, rho=0.3, runs=60, seed=5)
    assert cell["rate"] <= 0.05 + 0.06 and cell["coverage"] >= 0.93
