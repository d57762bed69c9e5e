import math

import numpy as np
import pytest
from PIL import Image

from audit.classifiers import (
    SkinToneClassifier,
    ita_category,
    ita_degrees,
    monk_level,
    skin_colour,
    skin_tone_reference,
    srgb_to_lab,
)
from audit.classifiers.skin_tone import select_skin

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


def test_real_photographs_give_one_face_and_a_plausible_ita(grace_hopper, astronaut):
    classifier = SkinToneClassifier()
    for path in (grace_hopper, astronaut):
        result = classifier.classify([Image.open(path)])[0]
        assert result.measurements["face_count"] == 1
        assert labels(result)["face_detected"] == "yes"
        # Both are light-skinned people photographed in warm light: between 'tan' and 'very light'.
        assert 10 < result.measurements["ita_deg"] < 70, path.name
        assert labels(result)["ita_category"] in {"tan", "intermediate", "light", "very light"}
        assert labels(result)["monk_skin_tone"] in {"3", "4", "5", "6"}
        assert 40 < result.measurements["hue_deg"] < 80  # skin hues are orange-yellow


def test_no_face_means_unknown_never_a_missing_row(coffee):
    result = SkinToneClassifier().classify([Image.open(coffee), Image.new("RGB", (128, 128), (200, 150, 120))])
    for image_result in result:
        assert labels(image_result) == {"face_detected": "no", "ita_category": "unknown", "monk_skin_tone": "unknown"}
        assert image_result.measurements["face_count"] == 0
        assert math.isnan(image_result.measurements["ita_deg"])


def test_a_face_with_too_few_skin_pixels_is_unknown(grace_hopper):
    # Greyscale: the face is found, but no pixel has a skin hue.
    grey = Image.open(grace_hopper).convert("L").convert("RGB")
    result = SkinToneClassifier().classify([grey])[0]
    assert result.measurements["face_count"] == 1
    assert labels(result)["ita_category"] == "unknown"
    assert labels(result)["monk_skin_tone"] == "unknown"
