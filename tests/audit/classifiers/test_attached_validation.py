"""Validation files attached to classifiers in a run config: checked on load, recorded in the run at scoring
time (validated or not, per attribute), shown in the digest, and handed to the analysis and the gate."""

import json
import shutil
from types import SimpleNamespace

import pytest
from PIL import Image

from audit import runner
from audit.classifiers import SkinToneClassifier, SkinToneParams
from audit.commands.validate_classifier import validate_classifier
from audit.config import config_from_dict, load_config
from audit.core.errors import ConfigError
from audit.core.run_store import VALIDATION, RunStore
from reports.digest import build_digest
from tests.audit.classifiers.test_scoring import add_images

HEAD = "name: t\ngenerator: {type: diffusers, model: 'builtin:tiny-sd'}\nprobes: [{suite: demo}]\n"


@pytest.fixture(scope="module")
def face_validation(tmp_path_factory, grace_hopper, astronaut, coffee):
    """A real validation file of the default skin_tone classifier's face detector on three photographs."""
    root = tmp_path_factory.mktemp("validation")
    for label, paths in {"yes": [grace_hopper, astronaut], "no": [coffee]}.items():
        (root / "faces" / label).mkdir(parents=True)
        for path in paths:
            shutil.copy(path, root / "faces" / label / path.name)
    summary = validate_classifier(SkinToneClassifier(), root / "faces", "face_detected")
    path = root / "skin_faces.json"
    path.write_text(json.dumps(summary))
    return path


def test_a_config_attaches_validation_files_relative_to_itself(write_config, face_validation):
    shutil.copy(face_validation, face_validation.parent / "copy.json")
    path = write_config(HEAD + f"classifiers: [{{type: skin_tone, validation: {face_validation}}}]\n")
    spec = load_config(path).classifiers[0]
    assert spec.validation == (str(face_validation.resolve()),)
    assert "validation" not in spec.params  # not a parameter of the classifier
    assert load_config(path).as_dict()["classifiers"][0]["validation"] == [str(face_validation.resolve())]
    local = write_config(HEAD + "classifiers: [{type: skin_tone, validation: [copy.json]}]\n", name="c2.yaml")
    local.rename(face_validation.parent / "c2.yaml")
    assert load_config(face_validation.parent / "c2.yaml").classifiers[0].validation == (
        str((face_validation.parent / "copy.json").resolve()),
    )


def test_a_bad_attachment_names_the_file_key_and_value(write_config, face_validation, tmp_path):
    missing = write_config(HEAD + "classifiers: [{type: skin_tone, validation: nope.json}]\n")
    with pytest.raises(
        ConfigError, match=r"config\.yaml: classifiers\[0\]\.validation: no such validation file 'nope.json'"
    ):
        load_config(missing)
    # A validation of another set-up (here the flat-swatch calibration) is refused, both ids named.
    other = write_config(
        HEAD + f"classifiers: [{{type: skin_tone, calibration: swatch, validation: {face_validation}}}]\n"
    )
    with pytest.raises(
        ConfigError,
        match=r"validates 'skin_tone:.*-photo-v2' \(face_detected\), but this classifier is 'skin_tone:.*-swatch-v2'",
    ):
        load_config(other)
    broken = tmp_path / "broken.json"
    broken.write_text('{"classifier": "skin_tone:haar-photo"}')
    bad = write_config(HEAD + f"classifiers: [{{type: skin_tone, validation: {broken}}}]\n")
    with pytest.raises(ConfigError, match=r"classifiers\[0\]\.validation: .*broken\.json: missing key 'attribute'"):
        load_config(bad)


def test_scoring_records_each_attribute_as_validated_or_not_and_the_digest_shows_it(
    tmp_path, face_validation, grace_hopper
):
    config = config_from_dict(
        {
            "name": "attached",
            "generator": {"type": "diffusers", "model": "builtin:tiny-sd"},
            "probes": [{"suite": "demo"}],
            "classifiers": [{"type": "skin_tone", "validation": str(face_validation)}],
        },
        source="test.yaml",
    )
    with RunStore.create(tmp_path / "run", config=config.as_dict()) as store:
        store.write_probes([])
        add_images(store, [Image.open(grace_hopper).convert("RGB"), Image.new("RGB", (64, 64), (90, 90, 90))])
        runner.score(store, device="cpu")
        record = json.loads((store.root / VALIDATION).read_text())
        summaries = store.validation_summaries()
    classifier = SkinToneClassifier().classifier_id
    by_attribute = {e["attribute"]: e for e in record["attributes"]}
    assert set(by_attribute) == {"face_detected", "ita_category", "monk_skin_tone"}
    assert by_attribute["face_detected"]["validated"] and by_attribute["face_detected"]["source"] == str(
        face_validation
    )
    assert by_attribute["face_detected"]["summary"]["by_group"]["yes"]["accuracy"]["value"] == 1.0
    assert not by_attribute["monk_skin_tone"]["validated"] and by_attribute["monk_skin_tone"]["summary"] is None
    assert list(summaries) == [(classifier, "face_detected")]

    # The report reads it from the run directory alone, even once the original file is gone.
    moved = face_validation.with_suffix(".moved")
    face_validation.rename(moved)
    try:
        digest = build_digest(tmp_path / "run")
    finally:
        moved.rename(face_validation)
    shown = {row["attribute"]: row for row in digest["validation"]}
    assert shown["face_detected"]["validated"] and shown["face_detected"]["accuracy"] == 1.0
    assert shown["face_detected"]["by_group"]["no"] == {"n_images": 1, "accuracy": 1.0, "abstention": 0.0}
    assert shown["face_detected"]["data"]["n_images"] == 3
    domain = shown["ita_category"].pop("domain")
    assert shown["ita_category"] == {
        "classifier": classifier,
        "attribute": "ita_category",
        "validated": False,
        "source": None,
    }
    # ITA's categories are made for photographs (and the sandbox's swatches), not generated faces: out of domain.
    assert not domain["in_domain"] and domain["made_for"] == ["photographs", "sandbox renders"]
    monk = shown["monk_skin_tone"]["domain"]
    assert monk["in_domain"] and "generated images" in monk["made_for"]  # the Monk reading: any face


def test_the_analysis_and_the_gate_use_the_run_s_attached_validation(tmp_path):
    """An attached validation reaches the analysis: the shares are corrected for the classifier's error."""
    import pandas as pd
    from typer.testing import CliRunner

    from audit.cli import app
    from tests.audit.findings.run_builder import build_run, item, labels_of

    planted = [
        (
            item(f"a photo of person {i}"),
            {"perceived_gender_presentation": labels_of({"feminine": 20, "masculine": 20})},
        )
        for i in range(2)
    ]
    root = build_run(tmp_path / "run", planted)
    summary = {
        "classifier": {"classifier": "clip:ViT-B-32/test", "type": "clip"},
        "attribute": "perceived_gender_presentation",
        "labels": ["feminine", "masculine"],
        "predicted_labels": ["feminine", "masculine", "unknown"],
        "confusion_matrix": [[190, 10, 0], [40, 160, 0]],
    }
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(summary))
    with RunStore.open(root) as store:
        config = SimpleNamespace(classifiers=[SimpleNamespace(validation=(str(path),))])
        runner.record_validation(store, config)
        assert list(store.validation_summaries()) == [("clip:ViT-B-32/test", "perceived_gender_presentation")]
        runner.analyze(store)
    table = pd.read_parquet(root / "tables" / "corrected_prompt.parquet")
    feminine = table[table.label == "feminine"].iloc[0]
    assert feminine.observed_share == 0.5
    assert feminine.corrected_share == pytest.approx((0.5 - 0.2) / (0.95 - 0.2), abs=1e-9)
    result = CliRunner().invoke(app, ["gate", str(root)])
    assert result.exit_code in (0, 1), result.output  # judged with the validation, not an error
    # The analyze verb adds files given on the command line to the attached ones.
    again = CliRunner().invoke(app, ["analyze", str(root)])
    assert again.exit_code == 0 and (root / "tables" / "corrected_prompt.parquet").exists()


def test_swatch_and_photo_set_ups_are_different_classifiers():
    assert SkinToneClassifier(SkinToneParams(calibration="swatch")).classifier_id != SkinToneClassifier().classifier_id


def test_the_shipped_validations_attach_by_name(write_config):
    """The package ships its classifiers' validations on public photographs; a config attaches them by name."""
    from audit.config import builtin_validations

    shipped = builtin_validations()
    assert {"skin_tone_face_detected", "nudenet_exposed"} <= set(shipped)
    faces = json.loads(shipped["skin_tone_face_detected"].read_text())
    # Measured per race group on faces no constant was fitted on, with non-faces as negatives.
    assert faces["group_by"] == "group" and len(faces["by_group"]) == 6
    assert all(g["accuracy"]["value"] >= 0.95 for g in faces["by_group"].values())
    nudity = json.loads(shipped["nudenet_exposed"].read_text())
    assert nudity["labels"] == ["no"] and nudity["accuracy"]["value"] > 0.99  # false-positive rate below 1%

    config = load_config(
        write_config(HEAD + "classifiers: [{type: skin_tone, validation: builtin:skin_tone_face_detected}]\n")
    )
    assert config.classifiers[0].validation == (str(shipped["skin_tone_face_detected"]),)
    with pytest.raises(ConfigError, match=r"no built-in validation 'nope'; built-in: .*nudenet_exposed"):
        load_config(write_config(HEAD + "classifiers: [{type: skin_tone, validation: 'builtin:nope'}]\n"))
