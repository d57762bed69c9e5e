"""``diffaudit rebalance``: a dataset of verified images for the groups a run under-represents.

The run is the sandbox renderer's planted world (nurses are drawn 90% amber), scored by the sandbox
CLIP; the renderer is a generator that reads no prompt, so rebalancing samples it as it is and keeps
only the candidates the classifier assigns to a label still short of its quota.
"""

from __future__ import annotations

import csv
import json

import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from audit import runner
from audit.cli import app
from audit.config import config_from_dict, load_config
from audit.core.run_store import REBALANCED
from audit.findings import run_labels

CLIP = {"type": "clip", "model": "builtin:sandbox-clip", "label_set": "sandbox", "cache": False}


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """The planted sandbox world, 10 seeds per prompt, scored by the sandbox CLIP."""
    folder = tmp_path_factory.mktemp("rebalance")
    config = config_from_dict(
        {
            "name": "planted",
            "generator": {"type": "sandbox", "bias": "planted", "batch_size": 100},
            "probes": [{"suite": "sandbox", "seeds": 10}],
            "classifiers": [CLIP],
            "policy": "sandbox",
        },
        source="test",
    )
    with runner.prepare(config, folder / "run") as store:
        runner.generate(store)
        runner.score(store, batch_size=100)
    return folder / "run"


def _rebalance(run_dir, out, *extra):
    args = ["rebalance", str(run_dir), "--attribute", "marker", "--where", "occupation=nurse", "--out", str(out)]
    return CliRunner().invoke(app, [*args, *extra])


def _manifest(folder):
    with (folder / "manifest.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_rebalance_keeps_only_images_the_classifier_assigns_to_their_label(planted_run, tmp_path):
    out = tmp_path / "nurses"
    result = _rebalance(planted_run, out, "--target", "uniform", "--count", "20")
    assert result.exit_code == 0, result.output
    rows = _manifest(out)
    # Two nurse prompts, 20 images each, split evenly between the two markers.
    assert len(rows) == 40
    for prompt in {r["prompt"] for r in rows}:
        labels = [r["marker"] for r in rows if r["prompt"] == prompt]
        assert sorted(labels) == ["amber"] * 10 + ["violet"] * 10
    # Every kept image is one the sandbox CLIP assigns to its label at the threshold (0.8 by default).
    from audit.classifiers import ClipClassifier
    from audit.classifiers.clip_zero_shot import ClipParams

    clip = ClipClassifier(ClipParams(model="builtin:sandbox-clip", label_set="sandbox", cache=False))
    images = [Image.open(out / r["image"]).convert("RGB") for r in rows]
    with torch.inference_mode():
        results = clip.predict(clip.prepare(images))
    for row, res in zip(rows, results, strict=True):
        marker = {label: prob for name, label, prob in res.labels if name == "marker"}
        assert marker[row["marker"]] >= 0.8, (row, marker)
    # Violet nurses are rare (10% planted): candidates were made and most were turned away.
    sheet = json.loads((out / "datasheet.json").read_text(encoding="utf-8"))
    violet = sheet["acceptance"]["violet"]
    assert violet["kept"] > 0 and violet["accepted"] < violet["tried"]
    assert sum(r["source"] == "generated" for r in rows) == sum(a["kept"] for a in sheet["acceptance"].values())
    # The datasheet: target, achieved shares with intervals, the classifier, the caveat.
    assert sheet["target"] == {"amber": 0.5, "violet": 0.5}
    assert sheet["tv"] <= 0.05
    for achieved in sheet["achieved"].values():
        low, high = achieved["ci"]
        assert low < achieved["share"] < high
    assert sheet["classifier"] == "clip:sandbox-clip" and "perceives" in sheet["caveat"]
    assert sheet["caveat"] in (out / "datasheet.md").read_text(encoding="utf-8")
    # The source run records the dataset, and its report and summary.md show it.
    recorded = json.loads((planted_run / REBALANCED).read_text(encoding="utf-8"))
    assert any(r["dataset"] == str(out) for r in recorded)
    for verb in ("analyze", "report"):
        assert CliRunner().invoke(app, [verb, str(planted_run)]).exit_code == 0
    html = (planted_run / "report.html").read_text(encoding="utf-8")
    assert "Rebalanced datasets" in html and str(out) in html
    summary = (planted_run / "summary.md").read_text(encoding="utf-8")
    assert "**Rebalanced dataset**" in summary and "amber 0.50" in summary and "violet 0.50" in summary


def test_the_rebalanced_folder_audits_within_005_tv_of_a_target_from_a_file(planted_run, tmp_path):
    target = tmp_path / "target.yaml"
    target.write_text("amber: 1\nviolet: 3\n", encoding="utf-8")
    out = tmp_path / "nurses"
    result = _rebalance(planted_run, out, "--target", str(target), "--count", "16")
    assert result.exit_code == 0, result.output
    # The folder is itself auditable with the `folder` generator: run its audit.yaml.
    config = load_config(out / "audit.yaml")
    assert config.generator.type == "folder"
    with runner.prepare(config, tmp_path / "audit") as store:
        runner.generate(store)
        runner.score(store)
        labels, _ = run_labels(store)
    marker = labels[(labels["attribute"] == "marker")]
    shares = marker.groupby("label")["prob"].size() / marker["record_id"].nunique()
    assert marker["record_id"].nunique() == 32
    tv = 0.5 * (abs(shares.get("amber", 0) - 0.25) + abs(shares.get("violet", 0) - 0.75))
    assert tv <= 0.05, shares.to_dict()


def test_rebalance_stops_when_acceptance_makes_the_count_unreachable_within_the_budget(planted_run, tmp_path):
    out = tmp_path / "nurses"
    before = (planted_run / REBALANCED).read_text(encoding="utf-8") if (planted_run / REBALANCED).exists() else None
    # 40 violet nurses per prompt at about 10% acceptance need about 400 candidates; the budget is 30.
    result = _rebalance(planted_run, out, "--target", "uniform", "--count", "80", "--budget", "30")
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "'violet' was assigned in" in message and "beyond the" in message and "budget" in message
    assert "--budget" in message  # what to change
    assert not out.exists()  # no partial dataset
    after = (planted_run / REBALANCED).read_text(encoding="utf-8") if (planted_run / REBALANCED).exists() else None
    assert after == before  # the run's record of datasets is unchanged


def test_rebalance_names_the_file_and_label_of_a_bad_target(planted_run, tmp_path):
    target = tmp_path / "target.yaml"
    target.write_text(yaml.safe_dump({"amber": 1, "teal": 1}), encoding="utf-8")
    result = _rebalance(planted_run, tmp_path / "out", "--target", str(target), "--count", "10")
    assert result.exit_code == 2
    assert str(target) in result.output and "teal" in result.output and "not a label" in result.output
