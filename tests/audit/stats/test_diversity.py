import numpy as np
import pytest
from scipy.spatial.distance import pdist

from audit.stats import mean_pairwise_cosine_distance, normalised_entropy, vendi_score


def test_mean_pairwise_cosine_distance_matches_scipy():
    x = np.random.default_rng(0).normal(size=(30, 8))
    assert mean_pairwise_cosine_distance(x) == pytest.approx(pdist(x, metric="cosine").mean())


def test_vendi_counts_effectively_distinct_images():
    assert vendi_score(np.tile([[1.0, 2.0, 3.0]], (10, 1))) == pytest.approx(1.0)
    assert vendi_score(np.eye(6)) == pytest.approx(6.0)
    # Two clusters of identical images: two distinct images, whatever the count.
    two = np.vstack([np.tile([1.0, 0, 0], (7, 1)), np.tile([0, 1.0, 0], (7, 1))])
    assert vendi_score(two) == pytest.approx(2.0)
    # Many more images than dimensions takes the d×d route and agrees with the n×n kernel.
    x = np.random.default_rng(1).normal(size=(200, 4))
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    eig = np.clip(np.linalg.eigvalsh(unit @ unit.T / 200), 1e-15, None)
    assert vendi_score(x) == pytest.approx(np.exp(-(eig * np.log(eig)).sum()), rel=1e-6)


def test_label_entropy_and_bad_embeddings():
    assert normalised_entropy([0.5, 0.5]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zeros"):
        vendi_score(np.zeros((3, 2)))


def test_embedding_diversity_per_prompt():
    import pandas as pd

    from audit.stats import embedding_diversity

    same = [[1.0, 0.0, 0.0]] * 4
    distinct = np.eye(4).tolist()
    embeddings = pd.DataFrame(
        {
            "record_id": [f"a{i}" for i in range(4)] + [f"b{i}" for i in range(4)],
            "classifier": "clip",
            "embedding": same + distinct,
        }
    )
    groups = pd.DataFrame({"record_id": embeddings.record_id, "prompt": ["alike"] * 4 + ["varied"] * 4})
    table = embedding_diversity(embeddings, groups, by=["prompt"]).set_index("prompt")
    assert table.loc["alike", "vendi"] == pytest.approx(1.0) and table.loc[
        "alike", "mean_cosine_distance"
    ] == pytest.approx(0.0)
    assert table.loc["varied", "vendi"] == pytest.approx(4.0) and table.loc[
        "varied", "mean_cosine_distance"
    ] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="embedding"):
        embedding_diversity(embeddings.drop(columns=["embedding"]), groups, by=["prompt"])
