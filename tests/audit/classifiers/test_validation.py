import json
import shutil

import pytest
from scipy.stats import norm
from typer.testing import CliRunner

from audit.classifiers import SkinToneClassifier, labelled_images
from audit.cli import app
from audit.commands.validate_classifier import validate_classifier
from audit.core.errors import ConfigError
from audit.stats.confusion import confusion_summary, rate

runner = CliRunner()


def wilson_by_hand(k, n):
    z = norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5
    return centre - half, centre + half


def test_a_rate_carries_the_wilson_interval_and_none_without_trials():
    for k, n in [(0, 10), (3, 10), (47, 50), (500, 1000)]:
        assert rate(k, n)["ci95"] == pytest.approx(wilson_by_hand(k, n), abs=1e-9)
    assert rate(0, 0) == {"value": None, "successes": 0, "trials": 0, "ci95": None}


def test_confusion_matrix_counts_rows_as_truth_and_keeps_unknown():
    truth = ["a", "a", "a", "b", "b", "c"]
    guess = ["a", "b", "unknown", "b", "b", "a"]
    summary = confusion_summary(truth, guess)
    assert summary["labels"] == ["a", "b", "c"]
    assert summary["predicted_labels"] == ["a", "b", "c", "unknown"]
    assert summary["confusion_matrix"] == [[1, 1, 0, 1], [0, 2, 0, 0], [1, 0, 0, 0]]
    assert summary["accuracy"]["value"] == pytest.approx(3 / 6)
    assert summary["accuracy_answered"]["value"] == pytest.approx(3 / 5)
    assert summary["abstention"]["value"] == pytest.approx(1 / 6)
    assert summary["accuracy"]["ci95"] == pytest.approx(wilson_by_hand(3, 6))
    assert summary["per_label"]["b"]["recall"]["value"] == 1.0
    assert summary["confusion_rates"][0] == pytest.approx([1 / 3, 1 / 3, 0, 1 / 3])


@pytest.fixture
def face_folder(tmp_path, grace_hopper, astronaut, coffee):
    root = tmp_path / "faces"
    for label, paths in {"yes": [grace_hopper, astronaut], "no": [coffee]}.items():
        (root / label).mkdir(parents=True)
        for path in paths:
            shutil.copy(path, root / label / path.name)
    return root


def test_validating_the_face_detector_on_real_photographs(face_folder):
    result = validate_classifier(SkinToneClassifier(), face_folder, "face_detected")
    assert result["confusion_matrix"] == [[1, 0, 0], [0, 2, 0]]  # rows no, yes
    assert result["accuracy"]["value"] == 1.0 and result["accuracy"]["ci95"][0] < 1.0
    assert result["classifier"]["classifier"] == SkinToneClassifier().classifier_id


def test_a_manifest_with_a_label_map(tmp_path, face_folder):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label\nfaces/yes/grace_hopper.jpg,face\nfaces/no/coffee.png,none\n")
    result = validate_classifier(
        SkinToneClassifier(), manifest, "face_detected", label_map={"face": "yes", "none": "no"}
    )
    assert result["n_images"] == 2 and result["accuracy"]["value"] == 1.0


def test_bad_inputs_name_the_file_and_field(tmp_path, face_folder):
    manifest = tmp_path / "m.csv"
    manifest.write_text("file,label\nx.png,a\n")
    with pytest.raises(ConfigError, match=r"m\.csv: manifest needs the columns path and label; missing path"):
        labelled_images(manifest)
    manifest.write_text("path,label\nmissing.png,a\n")
    with pytest.raises(ConfigError, match=r"m\.csv: line 2: path: no such image 'missing.png'"):
        labelled_images(manifest)
    with pytest.raises(ConfigError, match="has no attribute 'gender'.*face_detected"):
        validate_classifier(SkinToneClassifier(), face_folder, "gender")


def test_cli_validate_classifier_writes_json(tmp_path, face_folder):
    out = tmp_path / "v" / "skin.json"
    result = runner.invoke(
        app,
        [
            "validate-classifier",
            str(face_folder),
            "-c",
            "skin_tone",
            "-a",
            "face_detected",
            "-p",
            "min_neighbors=5",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["accuracy"]["value"] == 1.0 and data["classifier"]["params"]["min_neighbors"] == 5


def test_cli_validate_classifier_bad_param_is_one_line(tmp_path, face_folder):
    result = runner.invoke(
        app, ["validate-classifier", str(face_folder), "-c", "skin_tone", "-a", "face_detected", "-p", "bogus=1"]
    )
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "bogus" in result.stderr


def test_per_group_accuracy_and_abstention_with_the_largest_gap():
    truth = ["a", "a", "b", "b", "a", "b"]
    guess = ["a", "unknown", "b", "unknown", "unknown", "a"]
    groups = ["light", "light", "light", "dark", "dark", "dark"]
    summary = confusion_summary(truth, guess, groups)
    assert summary["group_by"] == "group"
    light, dark = summary["by_group"]["light"], summary["by_group"]["dark"]
    assert light["n_images"] == dark["n_images"] == 3
    assert light["accuracy"]["value"] == pytest.approx(2 / 3) and dark["accuracy"]["value"] == 0.0
    assert light["abstention"]["value"] == pytest.approx(1 / 3) and dark["abstention"]["value"] == pytest.approx(2 / 3)
    assert dark["accuracy_answered"]["value"] == 0.0 and dark["accuracy_answered"]["trials"] == 1
    assert dark["abstention"]["ci95"] == pytest.approx(wilson_by_hand(2, 3))
    assert summary["group_gaps"]["abstention"] == pytest.approx(1 / 3)
    assert summary["group_gaps"]["accuracy"] == pytest.approx(2 / 3)
    # Without groups, the true labels are the groups.
    by_label = confusion_summary(truth, guess)
    assert by_label["group_by"] == "label" and set(by_label["by_group"]) == {"a", "b"}
    assert confusion_summary(["a"], ["a"])["group_gaps"]["accuracy"] is None  # one group: no gap


@pytest.fixture
def grouped_manifest(tmp_path, grace_hopper, astronaut):
    """Colour and greyscale copies of two real portraits, grouped by colour: skin tone abstains on greyscale."""
    from PIL import Image

    rows = ["path,label,group"]
    for path in (grace_hopper, astronaut):
        image = Image.open(path).convert("RGB")
        image.save(tmp_path / f"{path.stem}-colour.png")
        image.convert("L").convert("RGB").save(tmp_path / f"{path.stem}-grey.png")
        rows += [f"{path.stem}-colour.png,yes,colour", f"{path.stem}-grey.png,yes,greyscale"]
    manifest = tmp_path / "faces.csv"
    manifest.write_text("\n".join(rows) + "\n")
    return manifest


def test_validate_classifier_writes_per_group_accuracy_and_abstention(tmp_path, grouped_manifest):
    """The validation file shows a classifier that abstains on one group only (here: greyscale photographs)."""
    out = tmp_path / "monk.json"
    result = runner.invoke(
        app,
        [
            "validate-classifier",
            str(grouped_manifest),
            "-c",
            "skin_tone",
            "-a",
            "monk_skin_tone",
            "--map",
            "yes=5",
            "--describe",
            "two public-domain portraits, in colour and in grey",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["group_by"] == "group"
    assert data["by_group"]["greyscale"]["abstention"]["value"] == 1.0
    assert data["by_group"]["colour"]["abstention"]["value"] == 0.0
    assert data["group_gaps"]["abstention"] == 1.0
    assert data["data"] == {
        "source": str(grouped_manifest),
        "description": "two public-domain portraits, in colour and in grey",
        "n_images": 4,
        "labels": {"5": 4},
        "groups": {"colour": 2, "greyscale": 2},
    }
    assert "greyscale: n=2" in result.stdout and "abstention=1.000" in result.stdout
    # It is a validation summary the analysis reads.
    from audit.findings.analysis import load_validation

    assert list(load_validation([out])) == [(data["classifier"]["classifier"], "monk_skin_tone")]


def test_a_manifest_group_column_must_be_filled(tmp_path, grace_hopper):
    import shutil

    shutil.copy(grace_hopper, tmp_path / "g.jpg")
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,group\ng.jpg,yes,\n")
    with pytest.raises(ConfigError, match=r"m\.csv: line 2: group: empty"):
        labelled_images(manifest)


def test_an_annotated_manifest_takes_the_majority_sets_aside_and_checks_each_image_hash(tmp_path, grace_hopper):
    import hashlib

    for name in ("a", "b", "c", "d"):
        shutil.copy(grace_hopper, tmp_path / f"{name}.jpg")
    digest = hashlib.sha256((tmp_path / "a.jpg").read_bytes()).hexdigest()
    rows = [
        ("a", "light", "ann"), ("a", "light", "bea"), ("a", "dark", "cai"),  # majority: light
        ("b", "light", "ann"), ("b", "dark", "bea"),  # no majority: set aside
        ("c", "not_a_person", "ann"), ("c", "not_a_person", "bea"),  # set aside, counted
        ("d", "unsure", "ann"), ("d", "medium", "bea"),  # an unsure is no vote: medium
    ]
    manifest = tmp_path / "labels.csv"
    manifest.write_text(
        "path,label,annotator,sha256\n" + "".join(f"{p}.jpg,{lab},{who},{digest}\n" for p, lab, who in rows)
    )
    from audit.classifiers.validation import annotations, consensus

    items, aside = consensus(annotations(manifest))
    assert sorted((i.path.name, i.label) for i in items) == [("a.jpg", "light"), ("d.jpg", "medium")]
    assert aside == {"not_a_person": 1, "unsure": 0, "annotators_disagree": 1}
    (tmp_path / "b.jpg").write_bytes(b"changed")
    with pytest.raises(ConfigError, match=r"labels\.csv: line 5: sha256: 'b\.jpg' changed"):
        labelled_images(manifest)
