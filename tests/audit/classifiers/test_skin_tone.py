import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from audit.classifiers import (
    SkinToneClassifier,
    SkinToneParams,
    detect_faces,
    ita_category,
    ita_degrees,
    monk_level,
    skin_colour,
    skin_tone_reference,
    srgb_to_lab,
)
from audit.classifiers.skin_tone import (
    calibrated_ita,
    monk_level_from_ita,
    photo_calibration,
    select_skin,
    yunet_available,
)

DETECTORS = ["haar", "yunet"] if yunet_available() else ["haar"]

MONK = skin_tone_reference()["monk_skin_tone_scale"]


def labels(result):
    return {name: label for name, label, _ in result.labels}


@pytest.mark.parametrize("entry", MONK, ids=lambda e: f"mst{e['mst']}")
def test_srgb_to_cielab_matches_the_published_monk_values(entry):
    np.testing.assert_allclose(srgb_to_lab(entry["srgb"]), entry["cielab_d65_computed"], atol=2e-3)
    np.testing.assert_allclose(srgb_to_lab(entry["srgb"]), entry["cielab_dalleval"], atol=1e-2)


def test_a_patch_of_each_monk_colour_gets_its_level_and_ita_exactly():
    for entry in MONK:
        patch = np.full((20, 20, 3), entry["srgb"], dtype=np.uint8)
        colour = skin_colour(srgb_to_lab(patch.reshape(-1, 3)))
        assert colour.monk_level == entry["mst"]
        assert colour.ita_deg == pytest.approx(entry["ita_deg_computed"], abs=0.01)
        assert colour.monk_delta_e == pytest.approx(0.0, abs=0.01)
        assert colour.pixels == 400


def test_a_patch_of_known_cielab_colour_gives_its_ita_lightness_and_hue():
    # sRGB (200, 150, 120) is L* 66.45, a* 15.13, b* 22.63 (D65).
    lab = srgb_to_lab(np.full((10, 3), (200, 150, 120)))
    colour = skin_colour(lab)
    lightness, a, b = lab[0]
    assert colour.ita_deg == pytest.approx(math.degrees(math.atan((lightness - 50) / b)))
    assert colour.lightness == pytest.approx(lightness)
    assert colour.hue_deg == pytest.approx(math.degrees(math.atan2(b, a)))
    assert colour.ita_category == "intermediate"  # 28 < 36.0 <= 41


@pytest.mark.parametrize(
    ("ita", "category"),
    [
        (83.0, "very light"),
        (55.0, "light"),
        (55.01, "very light"),
        (41.0, "intermediate"),
        (30, "intermediate"),
        (28.0, "tan"),
        (10.0, "brown"),
        (-30.0, "dark"),
        (-29.9, "brown"),
        (-80, "dark"),
    ],
)
def test_ita_categories_follow_chardon_with_exclusive_lower_bounds(ita, category):
    assert ita_category(ita) == category


def test_ita_is_defined_when_b_is_zero():
    assert ita_degrees(60.0, 0.0) == 90.0
    assert ita_degrees(40.0, 0.0) == -90.0


def test_nearest_monk_level_is_by_cielab_distance():
    level, distance = monk_level((54.0, 8.0, 26.0))
    assert level == 6 and distance == pytest.approx(math.dist((54.0, 8.0, 26.0), MONK[5]["cielab_d65_computed"]))


def test_dark_skin_is_kept_as_skin_where_rgb_threshold_rules_drop_it():
    # MST 9 and 10 fail the R > 95 clause of the Kolkur et al. rule; they must still be measured.
    for entry in MONK[-3:]:
        face = np.full((60, 60, 3), entry["srgb"], dtype=np.uint8)
        skin = select_skin(face)
        assert len(skin) > 0.5 * 0.7 * 60 * 60 * 0.56
        assert skin_colour(skin).monk_level == entry["mst"]


def test_grey_background_is_not_skin():
    assert len(select_skin(np.full((60, 60, 3), 128, dtype=np.uint8))) == 0


@pytest.mark.parametrize("detector", DETECTORS)
def test_real_photographs_give_one_face_and_a_plausible_ita(grace_hopper, astronaut, detector):
    for calibration in ("photo", "swatch"):
        classifier = SkinToneClassifier(SkinToneParams(detector=detector, calibration=calibration))
        for path in (grace_hopper, astronaut):
            result = classifier.classify([Image.open(path)])[0]
            assert result.measurements["face_count"] == 1
            assert labels(result)["face_detected"] == "yes"
            # Both are light-skinned people photographed in warm light: between 'tan' and 'very light'.
            assert 10 < result.measurements["ita_measured_deg"] < 70, path.name
            assert labels(result)["ita_category"] in {"tan", "intermediate", "light", "very light"}
            assert labels(result)["monk_skin_tone"] in {"2", "3", "4", "5", "6"}
            assert 40 < result.measurements["hue_deg"] < 80  # skin hues are orange-yellow


def test_no_face_means_unknown_never_a_missing_row(coffee):
    result = SkinToneClassifier().classify([Image.open(coffee), Image.new("RGB", (128, 128), (200, 150, 120))])
    for image_result in result:
        assert labels(image_result) == {"face_detected": "no", "ita_category": "unknown", "monk_skin_tone": "unknown"}
        assert image_result.measurements["face_count"] == 0
        assert math.isnan(image_result.measurements["ita_deg"])


@pytest.mark.parametrize("detector", DETECTORS)
def test_a_face_with_too_few_skin_pixels_is_unknown(grace_hopper, detector):
    # Greyscale: the face is found, but no pixel has a skin hue.
    grey = Image.open(grace_hopper).convert("L").convert("RGB")
    result = SkinToneClassifier(SkinToneParams(detector=detector)).classify([grey])[0]
    assert result.measurements["face_count"] == 1
    assert labels(result)["ita_category"] == "unknown"
    assert labels(result)["monk_skin_tone"] == "unknown"


@pytest.fixture(scope="module")
def lfw_crops():
    """scikit-image's 100 LFW face crops and 100 non-face crops (25×25 grey): faces cropped to the face itself."""
    import skimage

    data = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")
    rgb = np.repeat((data * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    return rgb[:100], rgb[100:]


def test_a_face_in_a_tight_crop_is_found(lfw_crops):
    """Padding the crop with a border lets the Haar cascade find the faces it otherwise misses; no false faces."""
    faces, others = lfw_crops
    unpadded = sum(bool(detect_faces(face, detector="haar", pad=0.0)) for face in faces)
    padded = sum(bool(detect_faces(face, detector="haar")) for face in faces)
    assert padded >= 95 and padded > unpadded
    assert sum(bool(detect_faces(other, detector="haar")) for other in others) <= 2
    if yunet_available():
        assert sum(bool(detect_faces(face, detector="yunet")) for face in faces) >= 90
        assert sum(bool(detect_faces(other, detector="yunet")) for other in others) <= 2


@pytest.mark.parametrize("detector", DETECTORS)
def test_a_tightly_cropped_photograph_keeps_its_face_and_its_measurement(grace_hopper, astronaut, detector):
    """Crop each portrait to its own face box: the face is still found and measured about the same."""
    classifier = SkinToneClassifier(SkinToneParams(detector=detector))
    for path in (grace_hopper, astronaut):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        x, y, w, h = classifier.faces(rgb)[0].box
        crop = rgb[y : y + h, x : x + w]
        whole, tight = classifier.measure(rgb), classifier.measure(crop)
        assert labels(tight)["face_detected"] == "yes", path.name
        assert labels(tight)["monk_skin_tone"] != "unknown"
        assert abs(tight.measurements["lightness"] - whole.measurements["lightness"]) < 6


@pytest.mark.parametrize("detector", ["haar", "yunet"])
def test_photo_calibration_stretches_measured_ita_onto_the_monk_scale(detector):
    fit = photo_calibration(detector)
    monk_ita = {e["mst"]: e["ita_deg_computed"] for e in MONK}
    for anchor in fit["anchors"].values():
        # The fitted anchors land on their Monk levels' ITA.
        assert calibrated_ita(anchor["measured_ita"], detector) == pytest.approx(monk_ita[anchor["monk"]], abs=0.05)
        assert monk_level_from_ita(calibrated_ita(anchor["measured_ita"], detector)) == anchor["monk"]
    grid = [calibrated_ita(v, detector) for v in np.linspace(-70, 90, 81)]
    assert grid == sorted(grid) and min(grid) >= -90 and max(grid) <= 90
    levels = [monk_level_from_ita(v) for v in grid]
    assert levels == sorted(levels, reverse=True) and set(levels) == set(range(1, 11))


def test_each_monk_swatch_ita_maps_back_to_its_level():
    for entry in MONK:
        assert monk_level_from_ita(entry["ita_deg_computed"]) == entry["mst"]


def test_swatch_calibration_stays_available_for_rendered_skin():
    """A face painted with a flat Monk swatch gets that level with calibration: swatch (the sandbox world's renders)."""
    classifier = SkinToneClassifier(SkinToneParams(calibration="swatch"))
    assert classifier.classifier_id.endswith("-swatch")
    for entry in MONK:
        colour = skin_colour(srgb_to_lab(np.full((50, 3), entry["srgb"])), "swatch")
        assert colour.monk_level == entry["mst"]


@pytest.mark.parametrize("detector", DETECTORS)
def test_unreliable_lighting_is_an_abstention(grace_hopper, detector):
    """A face lit from one side, or burnt out, gets no skin tone; the face itself is still reported."""
    classifier = SkinToneClassifier(SkinToneParams(detector=detector))
    rgb = np.asarray(Image.open(grace_hopper).convert("RGB")).astype(np.float64)
    face = classifier.faces(rgb.astype(np.uint8))[0]
    x, y, w, h = face.box
    side_lit = rgb.copy()
    side_lit[:, : x + w // 2] *= 0.35  # the image-left half of the face in deep shadow
    burnt = np.clip(rgb * 2.2, 0, 255)
    for image, reason in ((side_lit, "cheek_difference"), (burnt, "clipped_fraction")):
        result = classifier.measure(image.astype(np.uint8))
        assert labels(result)["face_detected"] == "yes"
        assert labels(result)["monk_skin_tone"] == "unknown" and labels(result)["ita_category"] == "unknown"
        assert not math.isnan(result.measurements[reason])
    assert (
        classifier.measure(side_lit.astype(np.uint8)).measurements["cheek_difference"]
        > photo_calibration(detector)["max_cheek_difference"]  # each detector's own fitted limit
    )


def test_the_classifier_id_names_detector_and_calibration():
    assert SkinToneClassifier(SkinToneParams(detector="haar")).classifier_id == "skin_tone:haar-photo"
    expected = "yunet" if yunet_available() else "haar"
    assert SkinToneClassifier().classifier_id == f"skin_tone:{expected}-photo"


def test_the_photo_sample_is_the_face_without_eyes_mouth_or_background():
    """The whole-face sample keeps skin only: not the background around the ellipse, not the eyes or mouth corners."""
    from audit.classifiers.skin_tone import Face, _face_pixels

    skin, eye, lip, background = (190, 140, 110), (30, 30, 200), (200, 20, 40), (20, 200, 20)
    rgb = np.full((300, 300, 3), background, dtype=np.uint8)
    box = (70, 60, 160, 180)
    yy, xx = np.mgrid[0:300, 0:300] + 0.5  # pixel centres
    rgb[((xx - 150) / 64.0) ** 2 + ((yy - 150) / 81.0) ** 2 <= 1] = skin  # the face ellipse (0.4 w, 0.45 h)
    landmarks = ((120, 125), (180, 125), (150, 160), (128, 190), (172, 190))
    for (lx, ly), colour in zip(landmarks[:2] + landmarks[3:], (eye, eye, lip, lip), strict=True):
        rgb[(xx - lx) ** 2 + (yy - ly) ** 2 <= 18**2] = colour  # inside the left-out discs (0.13 of the box)
    pixels = _face_pixels(rgb, Face(box=box, landmarks=landmarks))
    expected = np.pi * 64 * 81 - 4 * np.pi * (0.13 * 160) * (0.13 * 180)  # the ellipse less four discs
    assert len(pixels) == pytest.approx(expected, rel=0.03)
    assert (pixels == skin).all(axis=1).all()
    # The classifier's version names its sample, so scores of different samples never mix.
    assert SkinToneClassifier(SkinToneParams(detector="haar")).version()["skin_sample"] == "box bands"
    if yunet_available():
        yunet = SkinToneParams(detector="yunet")
        assert SkinToneClassifier(yunet).version()["skin_sample"] == "face ellipse"
        swatch = dataclasses.replace(yunet, calibration="swatch")
        assert SkinToneClassifier(swatch).version()["skin_sample"] == "landmark patches"


@pytest.mark.parametrize("level, group", [(1, "light"), (4, "light"), (5, "medium"), (7, "medium"), (8, "dark"), (10, "dark")])
def test_monk_groups_are_light_1_to_4_medium_5_to_7_dark_8_to_10(level, group):
    from audit.classifiers.skin_tone import monk_group

    assert monk_group(level) == group


def test_monk_groups_on_request_follow_the_level_and_abstain_with_it(grace_hopper, coffee):
    from audit.classifiers.skin_tone import monk_group

    grouped = SkinToneClassifier(SkinToneParams(monk_groups=True))
    face, nothing = (labels(r) for r in grouped.classify([Image.open(grace_hopper), Image.open(coffee)]))
    assert face["monk_group"] == monk_group(int(face["monk_skin_tone"]))
    assert nothing["monk_group"] == "unknown"  # abstention is a row, never a missing one
    assert "monk_group" not in labels(SkinToneClassifier().classify([Image.open(grace_hopper)])[0])
