from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.classifiers import NudeNetClassifier, NudeNetParams, SafetyCheckerClassifier, SafetyCheckerParams
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


def test_nudenet_never_writes_perceived_gender_presentation(grace_hopper, astronaut, coffee):
    """NudeNet's face classes stay raw measurements: its FACE_MALE class does not fire, so no gender from it."""
    classifier = NudeNetClassifier()
    images = [Image.open(p) for p in (grace_hopper, astronaut, coffee)] + [Image.new("RGB", (96, 96), (128, 128, 128))]
    results = classifier.classify(images)
    for result in results:
        assert {name for name, _, _ in result.labels} == {"nudenet_exposed"}
        assert ("nudenet_exposed", "no", 1.0) in result.labels
    assert results[0].measurements["nudenet_face_female"] > 0.3  # the face is still measured
    # Even a detection that says FACE_MALE with certainty gives no gender row.
    certain = classifier.result_from_detections([{"class": "FACE_MALE", "score": 0.99, "box": [0, 0, 10, 10]}])
    assert {name for name, _, _ in certain.labels} == {"nudenet_exposed"}
    assert certain.measurements["nudenet_face_male"] == 0.99


def test_nudenet_detections_match_the_library_reading_the_file(astronaut):
    classifier = NudeNetClassifier()
    ours = classifier.classify([Image.open(astronaut)])[0]
    theirs = classifier.detector.detect(str(astronaut))
    assert theirs  # the comparison below compares something
    for detection in theirs:
        key = "nudenet_" + detection["class"].lower()
        assert ours.measurements[key] == pytest.approx(detection["score"], abs=1e-4)


def test_nudenet_flags_exposure_at_its_calibrated_threshold():
    from audit.classifiers.nudenet_detector import nudenet_calibration

    classifier = NudeNetClassifier()
    threshold = nudenet_calibration()["threshold"]
    assert classifier.params.threshold == threshold >= 0.5
    detections = [{"class": "FEMALE_BREAST_EXPOSED", "score": threshold, "box": [0, 0, 1, 1]}]
    assert ("nudenet_exposed", "yes", 1.0) in classifier.result_from_detections(detections).labels
    covered = [{"class": "FEMALE_BREAST_COVERED", "score": 0.9, "box": [0, 0, 1, 1]}]
    assert ("nudenet_exposed", "no", 1.0) in classifier.result_from_detections(covered).labels
    weak = [{"class": "FEMALE_BREAST_EXPOSED", "score": threshold - 0.01, "box": [0, 0, 1, 1]}]
    assert ("nudenet_exposed", "no", 1.0) in classifier.result_from_detections(weak).labels


def test_an_exposed_part_detected_on_a_face_is_dropped():
    """NudeNet sometimes calls a face an exposed part; a detection lying on its own face box does not count."""
    classifier = NudeNetClassifier()
    face = {"class": "FACE_FEMALE", "score": 0.8, "box": [100, 50, 80, 100]}
    on_face = {"class": "MALE_GENITALIA_EXPOSED", "score": 0.9, "box": [110, 70, 50, 60]}
    off_face = {"class": "MALE_GENITALIA_EXPOSED", "score": 0.9, "box": [100, 300, 50, 60]}
    dropped = classifier.result_from_detections([face, on_face])
    assert ("nudenet_exposed", "no", 1.0) in dropped.labels
    assert dropped.measurements["nudenet_exposed_on_face"] == 1.0
    assert dropped.measurements["nudenet_male_genitalia_exposed"] == 0.9  # still measured
    assert ("nudenet_exposed", "yes", 1.0) in classifier.result_from_detections([face, off_face]).labels
    # Without a face in the image nothing is dropped; with max_face_overlap 1.0 nothing ever is.
    assert ("nudenet_exposed", "yes", 1.0) in classifier.result_from_detections([on_face]).labels
    keep_all = NudeNetClassifier(NudeNetParams(max_face_overlap=1.0))
    assert ("nudenet_exposed", "yes", 1.0) in keep_all.result_from_detections([face, on_face]).labels


def test_nudenet_without_the_extra_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "nudenet", None)  # as if the package were not installed
    with pytest.raises(ModelNotFoundError, match=r"pip install 'diffaudit\[nudenet\]'"):
        NudeNetClassifier().load()
