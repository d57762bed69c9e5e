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
    calibration,
    monk_group,
    monk_level_from_position,
    monk_position,
    select_skin,
    skin_index,
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
        lightness, a, b = entry["cielab_d65_computed"]
        assert colour.skin_index == pytest.approx(skin_index(lightness, math.hypot(a, b)), abs=0.01)


def test_a_patch_of_known_cielab_colour_gives_its_ita_lightness_and_hue():
    # sRGB (200, 150, 120) is L* 66.45, a* 15.13, b* 22.63 (D65).
    lab = srgb_to_lab(np.full((10, 3), (200, 150, 120)))
    colour = skin_colour(lab)
    lightness, a, b = lab[0]
    assert colour.ita_deg == pytest.approx(math.degrees(math.atan((lightness - 50) / b)))
    assert colour.lightness == pytest.approx(lightness)
    assert colour.hue_deg == pytest.approx(math.degrees(math.atan2(b, a)))
    assert colour.ita_category == "intermediate"  # 28 < 36.0 <= 41
    assert colour.chroma == pytest.approx(math.hypot(a, b))


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
    for name in ("photo", "swatch"):
        classifier = SkinToneClassifier(SkinToneParams(detector=detector, calibration=name))
        for path in (grace_hopper, astronaut):
            result = classifier.classify([Image.open(path)])[0]
            assert result.measurements["face_count"] == 1
            assert labels(result)["face_detected"] == "yes"
            # Both are light-skinned people photographed in warm light: between 'tan' and 'very light'.
            assert 10 < result.measurements["ita_deg"] < 70, path.name
            assert labels(result)["ita_category"] in {"tan", "intermediate", "light", "very light"}
            # Warm light adds chroma, which the skin index reads as darker skin: Grace Hopper's yellowed portrait
            # reads Monk 7 (a known limit, docs/classifiers.md); neither reads dark.
            assert labels(result)["monk_skin_tone"] in {"2", "3", "4", "5", "6", "7"}
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


@pytest.mark.parametrize(("name", "detector"), [("photo", "haar"), ("photo", "yunet"), ("render", "yunet")])
def test_each_calibration_maps_its_fitted_anchors_onto_their_monk_positions(name, detector):
    fit = calibration(name, detector)
    for anchor in fit["anchors"]:
        assert monk_position(anchor["index"], name, detector) == pytest.approx(anchor["monk"])
    # Lighter skin (a higher index) never reads darker, and the levels run through the scale in order.
    grid = np.linspace(-20, 100, 241)
    positions = [monk_position(v, name, detector) for v in grid]
    assert positions == sorted(positions, reverse=True)
    levels = [monk_level_from_position(p) for p in positions]
    assert levels == sorted(levels, reverse=True) and levels[0] == 10 and levels[-1] == 1


def test_the_render_calibration_puts_the_group_bounds_at_its_fitted_cut_points():
    cuts = {a["between"]: a for a in calibration("render", "yunet")["anchors"] if "between" in a}
    light_medium, medium_dark = cuts["light|medium"], cuts["medium|dark"]
    assert light_medium["index"] > medium_dark["index"]  # lighter faces above the light|medium cut
    step = 0.01
    assert monk_group(monk_level_from_position(monk_position(light_medium["index"] + step, "render"))) == "light"
    assert monk_group(monk_level_from_position(monk_position(light_medium["index"] - step, "render"))) == "medium"
    assert monk_group(monk_level_from_position(monk_position(medium_dark["index"] + step, "render"))) == "medium"
    assert monk_group(monk_level_from_position(monk_position(medium_dark["index"] - step, "render"))) == "dark"


@pytest.mark.parametrize("name", ["photo", "render"])
def test_the_reading_is_smooth_where_b_star_is_small_and_ita_is_not(name):
    """The failure of the ITA reading (issue 29): where b* is near 0, ITA = atan2(L* - 50, b*) turns by up to 180
    degrees across one unit of L*, and a mid-lightness grey skin gets an angle near -90 (the clip of the old
    stretch, Monk 10). The skin index moves by little for a little, along L* and along b*."""
    for a in (0.5, 3.0, 8.0):
        lightness, b = np.meshgrid(np.linspace(30, 70, 41), np.linspace(-2, 2, 41), indexing="ij")
        grid = np.array(
            [
                [skin_colour(np.array([[L, a, bb]]), name).monk_position for L, bb in zip(row_l, row_b, strict=True)]
                for row_l, row_b in zip(lightness, b, strict=True)
            ]
        )
        assert np.abs(np.diff(grid, axis=0)).max() < 0.2, a  # one unit of L*: under a fifth of a level
        assert np.abs(np.diff(grid, axis=1)).max() < 0.05, a  # 0.1 of b*: under a twentieth
    assert ita_degrees(50.5, 0.2) - ita_degrees(49.5, 0.2) > 100  # ITA across one unit of L*
    grey = skin_colour(np.array([[45.0, 2.0, 0.5]]), name)
    assert grey.ita_deg < -80 and 3 <= grey.monk_level <= 7  # ITA: 'dark'; the reading: mid-scale


@pytest.mark.parametrize("name", ["photo", "render"])
def test_dim_grey_skin_is_not_piled_at_the_scale_s_dark_end(name):
    """Dim, low-chroma skin (rendered faces in cool light) reads by its lightness: no level collects every colour
    whose b* is small, and the darkest level holds only the darkest colours."""
    rng = np.random.default_rng(29)
    colours = np.column_stack([rng.uniform(15, 75, 4000), rng.uniform(0, 12, 4000), rng.uniform(-2, 4, 4000)])
    readings = [skin_colour(c[None, :], name) for c in colours]
    levels = np.array([r.monk_level for r in readings])
    shares = np.bincount(levels, minlength=11)[1:] / len(levels)
    assert shares.max() < 0.35, shares  # lightness spread evenly over 15-75 spreads over the scale
    ita_clip = np.mean([ita_degrees(L, b) < -80 for L, _, b in colours])
    assert ita_clip > 0.35  # where the ITA reading put a third or more at its clip
    # Each level holds a band of lightness: a lighter colour never reads darker than a darker one of the same chroma.
    grey = [skin_colour(np.array([[lightness, 2.0, 1.0]]), name).monk_level for lightness in np.linspace(15, 75, 61)]
    assert grey == sorted(grey, reverse=True)


def test_ita_category_is_unknown_where_b_star_leaves_the_angle_undefined():
    assert skin_colour(np.array([[45.0, 4.0, 1.0]])).ita_category == "unknown"
    assert skin_colour(np.array([[45.0, 4.0, 6.0]])).ita_category != "unknown"


def test_the_render_calibration_needs_yunet_and_says_so():
    with pytest.raises(ValueError, match=r"calibration: render was fitted for the yunet detector only, not haar"):
        SkinToneClassifier(SkinToneParams(detector="haar", calibration="render"))
    with pytest.raises(ValueError, match=r"calibration: must be one of photo, render, swatch"):
        SkinToneParams(calibration="ita")


def test_each_monk_swatch_reads_in_order_under_the_photo_calibration():
    """The ten reference colours keep their order under the skin index (Monk 8 and 9 nearly tie: 9 is the
    less chromatic), and the light and dark ends of the scale land in the light and dark groups."""
    levels = [skin_colour(np.array([e["cielab_d65_computed"]]), "photo").monk_level for e in MONK]
    assert levels == sorted(levels)
    assert monk_group(levels[0]) == "light" and monk_group(levels[-1]) == "dark"


def test_swatch_calibration_stays_available_for_rendered_skin():
    """A face painted with a flat Monk swatch gets that level with calibration: swatch (the sandbox world's renders)."""
    classifier = SkinToneClassifier(SkinToneParams(calibration="swatch"))
    assert classifier.classifier_id.endswith("-swatch-v2")
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
        > calibration("photo", detector)["max_cheek_difference"]  # each detector's own fitted limit
    )


def test_the_classifier_id_names_detector_calibration_and_reading_version():
    """Scores of the ITA reading (ids without a version) never mix with these, and the version says what reads."""
    assert SkinToneClassifier(SkinToneParams(detector="haar")).classifier_id == "skin_tone:haar-photo-v2"
    expected = "yunet" if yunet_available() else "haar"
    assert SkinToneClassifier().classifier_id == f"skin_tone:{expected}-photo-v2"
    version = SkinToneClassifier(SkinToneParams(detector="haar")).version()
    assert "L* (1 - w C*/100)" in version["reading"]
    assert version["calibration"]["anchors"] == calibration("photo", "haar")["anchors"]
    assert version["calibration"]["reading"]["chroma_weight"] == pytest.approx(1.25)


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


@pytest.mark.parametrize(
    "level, group", [(1, "light"), (4, "light"), (5, "medium"), (7, "medium"), (8, "dark"), (10, "dark")]
)
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


@pytest.fixture(scope="module")
def held_out_dcgan_faces(tmp_path_factory):
    """The held-out (test) half of the eye labels of dcgan-faces, regenerated from their seeds by the real generator;
    skipped when gan-face-generate is not installed or an image is not the one labelled (its sha256)."""
    from generators import PythonModelGenerator, PythonModelParams
    from generators.dcgan_faces import INSTALL, gan_face_available

    if not (gan_face_available() and yunet_available()):
        pytest.skip(f"needs gan-face-generate ({INSTALL}) and yuface")
    import json
    from importlib import resources

    from audit.core.run_store import RunStore
    from probes import load_suite

    text = (resources.files("audit.classifiers") / "data" / "labels" / "dcgan_faces_skin_tone.json").read_text()
    items = [i for i in json.loads(text)["items"] if i["split"] == "test" and i["label"] in {"light", "medium", "dark"}]
    root = tmp_path_factory.mktemp("dcgan")
    params = PythonModelParams(model="entry-point:dcgan-faces", latent_shape=[100, 1, 1], batch_size=64)
    with RunStore.create(root / "run", config={}) as store:
        records = PythonModelGenerator(params).generate(
            load_suite("unconditional").expand(), sorted(i["seed"] for i in items), store
        )
    made = {r.seed: r for r in records}
    if any(made[i["seed"]].sha256 != i["sha256"] for i in items):
        pytest.skip("this machine's generator does not reproduce the labelled images bit for bit")
    return [(i["label"], Image.open(root / "run" / made[i["seed"]].image_path).convert("RGB")) for i in items]


def test_the_render_reading_agrees_with_the_eye_on_held_out_generated_faces(held_out_dcgan_faces):
    """The issue-29 goal on the held-out half of 500 eye labels (benchmarks/RESULTS.md): agreement on the Monk group
    >= 0.75, Cohen's kappa >= 0.5, disagreements not one-sided; the photo calibration, like the ITA reading before
    it, reads these dim renders darker than the eye almost every time it disagrees."""
    from audit.stats import cohen_kappa

    order = ["light", "medium", "dark"]
    render = SkinToneClassifier(SkinToneParams(calibration="render", monk_groups=True))
    results = render.classify([image for _, image in held_out_dcgan_faces])
    # The photo calibration samples the same skin: its reading is the same index through its own anchors.
    for name in ("render", "photo"):
        pairs = [
            (eye, monk_group(monk_level_from_position(monk_position(r.measurements["skin_index"], name))))
            for (eye, _), r in zip(held_out_dcgan_faces, results, strict=True)
            if labels(r)["monk_group"] != "unknown"
        ]
        eye, got = zip(*pairs, strict=True)
        agreement = np.mean([a == b for a, b in pairs])
        darker = np.mean([order.index(b) > order.index(a) for a, b in pairs if a != b])
        if name == "render":
            assert [labels(r)["monk_group"] for r in results if labels(r)["monk_group"] != "unknown"] == list(got)
            assert len(pairs) >= 180 and agreement >= 0.75 and cohen_kappa(eye, got) >= 0.5
            assert 0.4 <= darker <= 0.6
        else:
            assert agreement < 0.6 and darker > 0.9
