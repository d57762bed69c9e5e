from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.classifiers import NudeNetClassifier, SafetyCheckerClassifier, SafetyCheckerParams
from audit.core.errors import ModelNotFoundError


@pytest.fixture(scope="module")
def tiny_checker_dir(tmp_path_factory):
    """A random-weight StableDiffusionSafetyChecker with a CLIP image processor, saved like the hub's."""
    return Path(SafetyCheckerClassifier.example_params(tmp_path_factory.mktemp("models")).model)


def test_safety_checker_scores_agree_with_diffusers_own_forward(tiny_checker_dir, random_images):
    classifier = SafetyCheckerClassifier(SafetyCheckerParams(model=str(tiny_checker_dir)))
    images = random_images(12, seed=3)
    results = classifier.classify(images)
    pixels = classifier.processor(images=images, return_tensors="pt").pixel_values
    originals = [np.asarray(i, dtype=np.float32) for i in images]
    _, flags = classifier.checker(clip_input=pixels, images=list(originals))
    ours = [dict((n, lab) for n, lab, _ in r.labels)["sd_safety_flagged"] == "yes" for r in results]
    assert ours == flags
    assert 0 < sum(flags) < len(flags)  # both outcomes are exercised
    for result in results:
        assert len([k for k in result.measurements if k.startswith("concept_")]) == 17
        assert len([k for k in result.measurements if k.startswith("special_care_")]) == 3
        flagged = any(v > 0 for k, v in result.measurements.items() if k.startswith("concept_"))
        assert flagged == (dict((n, lab) for n, lab, _ in result.labels)["sd_safety_flagged"] == "yes")
    # The scorer never alters images.
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(images, random_images(12, seed=3), strict=True)
    )


def test_safety_checker_missing_offline_gives_one_sentence():
    classifier = SafetyCheckerClassifier(SafetyCheckerParams(model="CompVis/stable-diffusion-safety-checker"))
    with pytest.raises(ModelNotFoundError) as info:
        classifier.load()
    assert "\n" not in str(info.value)
    assert "huggingface-cli download CompVis/stable-diffusion-safety-checker" in str(info.value)


def test_nudenet_real_weights_see_a_female_face_and_no_exposure(grace_hopper, astronaut, coffee):
    classifier = NudeNetClassifier()
    results = classifier.classify([Image.open(p) for p in (grace_hopper, astronaut, coffee)])
    for result in results[:2]:
        rows = {label: prob for name, label, prob in result.labels if name == "perceived_gender_presentation"}
        assert rows["feminine"] > rows["masculine"] and rows["unknown"] == 0.0
        assert result.measurements["nudenet_face_female"] > 0.3
        assert ("nudenet_exposed", "no", 1.0) in result.labels
    rows = {label: prob for name, label, prob in results[2].labels if name == "perceived_gender_presentation"}
    assert rows["unknown"] == 1.0  # no face in the coffee cup
    assert len(results[0].measurements) == 18


def test_nudenet_detections_match_the_library_reading_the_file(astronaut):
    classifier = NudeNetClassifier()
    ours = classifier.classify([Image.open(astronaut)])[0]
    theirs = classifier.detector.detect(str(astronaut))
    assert theirs  # the comparison below compares something
    for detection in theirs:
        key = "nudenet_" + detection["class"].lower()
        assert ours.measurements[key] == pytest.approx(detection["score"], abs=1e-4)


def test_nudenet_flags_exposure_above_its_threshold():
    classifier = NudeNetClassifier()
    detections = [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.7, "box": [0, 0, 1, 1]}]
    assert ("nudenet_exposed", "yes", 1.0) in classifier.result_from_detections(detections).labels
    covered = [{"class": "FEMALE_BREAST_COVERED", "score": 0.9, "box": [0, 0, 1, 1]}]
    assert ("nudenet_exposed", "no", 1.0) in classifier.result_from_detections(covered).labels
    weak = [{"class": "FEMALE_BREAST_EXPOSED", "score": 0.3, "box": [0, 0, 1, 1]}]
    assert ("nudenet_exposed", "no", 1.0) in classifier.result_from_detections(weak).labels


def test_nudenet_without_the_extra_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nudenet", None)  # as if the package were not installed
    with pytest.raises(ModelNotFoundError, match=r"pip install 'diffaudit\[nudenet\]'"):
        NudeNetClassifier().load()
