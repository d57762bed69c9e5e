import pytest

from audit.config import load_config
from audit.core.errors import ConfigError

HEAD = "name: t\ngenerator: {type: diffusers}\nprobes: [{suite: demo}]\n"


def test_classifier_parameters_are_checked_against_the_classifier(write_config):
    path = write_config(HEAD + "classifiers: [{type: skin_tone}, {type: clip, modle: ViT-B-32}]\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "classifiers[1].modle" in str(info.value)


def test_unknown_classifier_type_lists_the_known_ones(write_config):
    path = write_config(HEAD + "classifiers: [{type: clipp}]\n")
    with pytest.raises(ConfigError, match=r"classifiers\[0\]\.type: unknown classifier type 'clipp'.*skin_tone"):
        load_config(path)


def test_wrong_parameter_type_names_key_and_value(write_config):
    path = write_config(HEAD + "classifiers: [{type: nudenet, threshold: high}]\n")
    with pytest.raises(ConfigError, match=r"classifiers\[0\]\.threshold: expected a number, got 'high'"):
        load_config(path)


def test_resolved_classifier_parameters_are_recorded_with_defaults(write_config):
    config = load_config(
        write_config(HEAD + "classifiers: [{type: clip, model: ViT-B-32, pretrained: laion2b_s34b_b79k}]\n")
    )
    recorded = config.as_dict()["classifiers"][0]
    assert recorded == {
        "type": "clip",
        "model": "ViT-B-32",
        "pretrained": "laion2b_s34b_b79k",
        "label_set": "default",
        "q16": False,
        "cache": True,
    }


def test_run_with_missing_scoring_weights_stops_before_generating(write_config, tmp_path):
    from typer.testing import CliRunner

    from audit.cli import app

    config = write_config(HEAD + "classifiers: [{type: skin_tone}, {type: clip}]\n")
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ViT-L-14/openai" in lines[0] and "create_model" in lines[0]
    assert not (tmp_path / "out").exists()


def test_run_with_a_missing_label_set_names_it_before_generating(write_config, tmp_path):
    from typer.testing import CliRunner

    from audit.cli import app

    config = write_config(HEAD + "classifiers: [{type: clip, label_set: nowhere.yaml}]\n")
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "nowhere.yaml: label set not found" in result.stderr
    assert not (tmp_path / "out").exists()
