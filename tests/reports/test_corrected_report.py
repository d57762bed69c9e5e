"""A report of one prompt: its shares charted with intervals, a warning kept apart from failing groups, and
corrected shares beside the raw ones once a validation made on the run is given to analyze."""

import json

import yaml
from markupsafe import escape

from audit.commands.analyze import analyze_command
from audit.core.run_store import RunStore
from reports import write_report
from reports.markdown_summary import escape_markdown
from tests.audit.findings.run_builder import build_run, item, labels_of

GENDER = "perceived_gender_presentation"
CLASSIFIER = "clip:ViT-B-32/test"
POLICY = {
    "name": "one-prompt",
    "checks": [
        {"id": "parity", "check": "deviation", "attribute": GENDER, "max": 0.1, "severity": "warning"},
        {
            "id": "feminine-share",
            "check": "rate",
            "attribute": GENDER,
            "label": "feminine",
            "max": 0.95,
            "correct_for_classifier_error": True,
        },
    ],
}


def test_one_prompt_report_charts_warns_apart_and_shows_corrected_shares(tmp_path):
    root = build_run(
        tmp_path / "one", [(item("a portrait"), {GENDER: labels_of({"feminine": 150, "masculine": 40, "unknown": 10})})]
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY))
    info = yaml.safe_load((root / "run.yaml").read_text())
    info["config"]["policy"] = str(policy)
    (root / "run.yaml").write_text(yaml.safe_dump(info))
    validation = {
        "classifier": CLASSIFIER,
        "attribute": GENDER,
        "labels": ["feminine", "masculine"],
        "predicted_labels": ["feminine", "masculine", "unknown"],
        "confusion_matrix": [[180, 10, 10], [20, 170, 10]],
        "n_images": 400,
        "data": {
            "labelled_by": {
                "runs": ["one"],
                "agreement": {"annotators": ["ann", "bea"], "method": "Cohen's kappa", "kappa": 0.8},
                "set_aside": {"not_a_person": 3, "unsure": 1, "annotators_disagree": 0},
            }
        },
    }
    path = tmp_path / "validation.json"
    path.write_text(json.dumps(validation))
    lines, _ = analyze_command(root, [path])
    assert lines[0].startswith("attached: ")
    with RunStore.open(root) as store:
        written = write_report(store)
    digest = json.loads(written["summary.json"].read_text())
    verdict = digest["verdict"]
    assert verdict["status"] == "pass" and verdict["failing"] == []
    assert [f["check"] for f in verdict["warnings"]] == ["parity"]
    assert verdict["counts_by_status"]["fail"] == 0 and verdict["counts_by_status"]["warn"] == 1
    (attribute,) = [a for a in digest["attributes"] if a["attribute"] == GENDER]
    assert attribute["groupings"][0]["chart"] and len(attribute["groupings"][0]["rows"]) == 1
    corrected = attribute["corrected"]
    said = "validated on 400 labels of this run (2 annotators, Cohen's kappa 0.80; 4 set aside)"
    assert corrected["validated_on"] == said and corrected["reason"] is None
    (row,) = corrected["rows"]
    share, low, high = row["corrected"]["feminine"]
    assert row["raw"]["feminine"] == 150 / 190 and low < share < high and share > row["raw"]["feminine"]

    summary = written["summary.md"].read_text()
    assert "0 failing, 1 warning" in summary and "**Warnings**" in summary and "Failing groups" not in summary
    assert "raw → corrected" in summary and escape_markdown(said) in summary
    html = written["report.html"].read_text()
    assert 'id="fig-share-0-0"' in html and "Corrected for classifier error" in html and str(escape(said)) in html
    # The corrected check's own section says it judged corrected shares (in its title, text and JUnit lines);
    # the uncorrected one does not, and a failing check of severity warning reads "warn".
    sections = {s["id"]: s for s in digest["sections"]}
    assert "corrected for classifier error" in sections["feminine-share"]["title"]
    assert "confusion matrix" in sections["feminine-share"]["text"]
    assert any("corrected for classifier error" in line for line in sections["feminine-share"]["junit"])
    assert "corrected" not in sections["parity"]["title"] + sections["parity"]["text"]
    assert sections["parity"]["status"] == "warn"
    (entry,) = [v for v in digest["validation"] if v["attribute"] == GENDER]
    assert entry["validated"] and entry["confusion"]["matrix"] == validation["confusion_matrix"]
