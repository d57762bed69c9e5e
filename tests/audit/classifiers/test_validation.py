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
    assert result["classifier"]["classifier"] == "skin_tone:haar-cielab"


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
