import numpy as np
import pytest

from audit.stats import corrected_intervals, corrected_shares, project_to_simplex, rogan_gladen


def test_without_noise_the_inversion_recovers_the_true_shares():
    true = np.array([0.6, 0.3, 0.1])
    confusion = np.array([[80, 15, 5], [10, 85, 5], [5, 5, 90]])
    rates = confusion / confusion.sum(axis=1, keepdims=True)
    observed = rates.T @ true * 1e6
    np.testing.assert_allclose(corrected_shares(observed, confusion), true, atol=1e-9)


def test_rogan_gladen_is_the_binary_case_of_the_inversion():
    sens, spec = 0.9, 0.8
    confusion = np.array([[90, 10], [20, 80]])  # true positive row first: 0.9 called positive
    observed = np.array([55, 45])
    assert corrected_shares(observed, confusion)[0] == pytest.approx(rogan_gladen(0.55, sens, spec))
    with pytest.raises(ValueError, match="exceed 1"):
        rogan_gladen(0.5, 0.4, 0.5)


def test_projection_onto_the_simplex():
    np.testing.assert_allclose(project_to_simplex([1.2, -0.2]), [1.0, 0.0])
    batch = project_to_simplex(np.array([[0.7, 0.7, -0.1], [0.2, 0.3, 0.5]]))
    np.testing.assert_allclose(batch, [[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    assert np.all(batch >= 0) and np.allclose(batch.sum(axis=1), 1)


def test_corrected_interval_recovers_the_planted_share_in_simulated_audits():
    rng = np.random.default_rng(3)
    audits, images, validation = 1000, 300, 200
    true = np.array([0.7, 0.3])
    rates = np.array([[0.75, 0.25], [0.1, 0.9]])  # the classifier misses a quarter of true 'a' images
    observed = rng.multinomial(images, rates.T @ true, size=audits)
    confusion = np.stack([rng.multinomial(validation, rates[i], size=audits) for i in range(2)], axis=1)
    estimate, low, high = corrected_intervals(observed, confusion, samples=400, rng=rng)
    coverage = np.mean((low[:, 0] <= true[0]) & (true[0] <= high[:, 0]))
    naive = np.mean(observed[:, 0] / images)
    assert abs(naive - true[0]) > 0.05  # uncorrected shares are off ...
    assert estimate[:, 0].mean() == pytest.approx(true[0], abs=0.01)  # ... corrected ones are not
    assert 0.93 <= coverage <= 0.98, coverage


def test_a_true_label_without_validation_images_is_refused():
    with pytest.raises(ValueError, match="validation"):
        corrected_shares([5, 5], [[10, 0], [0, 0]])


def test_corrected_distributions_from_a_validation_summary_recover_planted_shares():
    """Each of 400 groups is one simulated audit: true 70% feminine, seen through a classifier that abstains unevenly."""
    import pandas as pd

    from audit.stats import confusion_summary, corrected_distributions

    rng = np.random.default_rng(12)
    labels = ["feminine", "masculine", "unknown"]
    rates = {"feminine": [0.75, 0.15, 0.10], "masculine": [0.05, 0.80, 0.15]}
    # A large validation set, so the shared confusion matrix is nearly exact and every group is
    # an independent audit (per-audit validation noise is covered by the test above).
    truths = ["feminine"] * 5000 + ["masculine"] * 5000
    predicted = [labels[j] for t in ("feminine", "masculine") for j in rng.choice(3, size=5000, p=rates[t])]
    summary = confusion_summary(truths, predicted)  # the validation format

    groups, images, true_share = 400, 300, 0.7
    true_label = np.where(rng.uniform(size=(groups, images)) < true_share, "feminine", "masculine")
    u = rng.uniform(size=(groups, images))
    seen = np.where(
        true_label == "feminine",
        np.where(u < 0.75, "feminine", np.where(u < 0.90, "masculine", "unknown")),
        np.where(u < 0.05, "feminine", np.where(u < 0.85, "masculine", "unknown")),
    )
    table = pd.DataFrame(
        {
            "record_id": np.arange(groups * images).astype(str),
            "classifier": "clip",
            "attribute": "gender",
            "label": seen.ravel(),
            "group": np.repeat(np.arange(groups), images),
        }
    )
    out = corrected_distributions(table, {("clip", "gender"): summary}, by=["group"], samples=300)
    feminine = out[out.label == "feminine"]
    assert abs(feminine.observed_share.mean() - true_share) > 0.05  # uncorrected: biased
    assert feminine.corrected_share.mean() == pytest.approx(true_share, abs=0.01)
    coverage = np.mean((feminine.ci_low <= true_share) & (true_share <= feminine.ci_high))
    assert 0.93 <= coverage <= 0.98, coverage


def test_a_label_the_validation_never_saw_is_named():
    import pandas as pd

    from audit.stats import corrected_distributions

    summary = {
        "labels": ["a", "b"],
        "predicted_labels": ["a", "b", "unknown"],
        "confusion_matrix": [[9, 1, 0], [1, 9, 0]],
    }
    table = pd.DataFrame(
        {"record_id": ["1", "2"], "classifier": "c", "attribute": "x", "label": ["z", "a"], "g": [0, 0]}
    )
    out = corrected_distributions(table, {("c", "x"): summary}, by=["g"])  # not corrected, with the reason
    assert out["corrected_share"].isna().all() and out["reason"].str.contains("decided z").all()
