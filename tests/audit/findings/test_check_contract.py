"""Every registered check type, built in or added by another package, keeps one contract, read from its own
``example(beyond)``: planted images beyond the limit fail the check and images well within pass it, through the
whole pipeline (a run directory, findings.json, report.html, summary.json and junit.xml); its findings state the
hypothesis and the decision rule. tests/audit/findings/plugin_check.py, a check type in one file, passes it
unchanged."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import yaml

import tests.audit.findings.plugin_check  # noqa: F401  (registers the test-only check type)
from audit.core.run_store import RunStore
from audit.findings import analyze_run, write_analysis
from audit.findings.checks import CHECK_TYPES
from reports import write_report
from tests.audit.findings.run_builder import build_run, item, labels_of

TYPES = CHECK_TYPES.available()


def test_every_built_in_type_and_the_plugin_are_registered():
    assert {"deviation", "rate", "risk_ratio", "amplification", "sexualised_minors", "majority_share"} <= set(TYPES)


@pytest.mark.parametrize("kind", TYPES)
def test_a_check_type_has_a_sequential_test_or_says_why_not(kind):
    check_type = CHECK_TYPES.get(kind)
    test, why = getattr(check_type, "sequential_test", None), getattr(check_type, "no_sequential_test", None)
    assert callable(test) != bool(why), "a sequential test, or (only without one) the reason there is none"
    if callable(test):  # what the sequential engine asks of a type with a test
        assert callable(check_type.describe_sequential) and callable(check_type.needed_columns)


@pytest.mark.parametrize("kind", TYPES)
def test_a_check_type_holds_its_own_policy_schema(kind):
    """The policy class a ``check:`` entry is parsed into is defined in the check type's own module (one file per
    check), takes the fields every check takes, and a policy naming the type parses into it."""
    from audit.findings import CheckBase, policy_from_dict

    check_type = CHECK_TYPES.get(kind)
    assert check_type.policy_class.__module__ == check_type.__module__
    assert issubclass(check_type.policy_class, CheckBase)
    entry = {"id": f"{kind}-schema", **check_type.example(True)["entry"]}
    (check,) = policy_from_dict({"name": "schema", "checks": [entry]}, source="contract").checks
    assert type(check) is check_type.policy_class and check.check == kind
    assert check.describe_measure()


def _run(tmp_path, kind: str, beyond: bool) -> dict:
    example = CHECK_TYPES.get(kind).example(beyond)
    policy = tmp_path / "policy.yaml"
    entry = {"id": f"{kind}-contract", **example["entry"]}
    policy.write_text(yaml.safe_dump({"name": "contract", "checks": [entry]}), encoding="utf-8")
    planted = []
    for spec in example["items"]:
        it = item(spec["prompt"], attributes=spec.get("attributes", {}), reference=spec.get("reference", {}))
        planted.append((it, {attribute: labels_of(counts) for attribute, counts in spec["labels"].items()}))
    root = build_run(tmp_path / ("beyond" if beyond else "within"), planted, policy=str(policy))
    validation = {(v["classifier"], v["attribute"]): v for v in example.get("validation", [])}
    with RunStore.open(root) as store:
        write_analysis(store, analyze_run(store, validation=validation))
        write_report(store)
    findings = json.loads((root / "findings.json").read_text(encoding="utf-8"))
    (check,) = [c for c in findings["checks"] if c["id"] == entry["id"]]
    mine = [f for f in findings["findings"] if f["check"] == entry["id"]]
    junit = ET.parse(root / "junit.xml").getroot()
    cases = [c for c in junit.iter("testcase") if entry["id"] in (c.get("name", "") + c.get("classname", ""))]
    html = (root / "report.html").read_text(encoding="utf-8")
    summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
    return {"id": entry["id"], "check": check, "findings": mine, "junit": cases, "html": html, "summary": summary}


@pytest.mark.parametrize("kind", TYPES)
def test_a_check_type_fails_beyond_the_limit_and_passes_within_it_through_every_output(tmp_path, kind):
    beyond = _run(tmp_path, kind, beyond=True)
    within = _run(tmp_path, kind, beyond=False)
    assert beyond["check"]["status"] == "fail", [f["summary"] for f in beyond["findings"]]
    assert within["check"]["status"] == "pass", [f["summary"] for f in within["findings"]]
    for run in (beyond, within):
        assert run["check"]["check"] == kind and run["check"]["applicable"]
        assert run["check"]["hypothesis"].startswith("H0: the ") and run["check"]["rule"]
        assert run["findings"] and all(
            f["rule"] and f["summary"] and f["threshold"] is not None for f in run["findings"]
        )
        assert run["id"] in run["html"]
        assert run["junit"], f"no JUnit test case names {run['id']}"
    assert any(c.find("failure") is not None for c in beyond["junit"])
    assert all(c.find("failure") is None for c in within["junit"])
    assert any(f["status"] == "fail" and f["value"] is not None for f in beyond["findings"])
    for run in (beyond, within):
        _holds_its_section(run)


def _holds_its_section(run: dict) -> None:
    """The check's own section (its type's report_section) is in findings.json and summary.json, names a figure or
    why it has none, and its JUnit lines are in the system-out of the check's test case."""
    report = run["check"]["report"]
    assert report["title"] and report["text"] and report["columns"]
    assert all(len(row) == len(report["columns"]) for row in report["rows"]) and report["rows"]
    assert report["figure"] is not None or report["no_figure"]
    (section,) = [s for s in run["summary"]["sections"] if s["id"] == run["id"]]
    assert section["title"] == report["title"] and section["status"] == run["check"]["status"]
    assert report["junit"], "a check's section gives the CI reader at least one line"
    (case,) = [c for c in run["junit"] if c.get("name") == run["id"]]
    out = case.find("system-out").text.splitlines()
    missing = [line for line in report["junit"] if line not in out]
    assert not missing, f"JUnit lines of {run['id']} not in its system-out: {missing}"


def test_a_check_type_without_a_report_section_gets_the_default_one(monkeypatch):
    """report_section is optional: a type without one shows each group's value against the limit."""
    import pandas as pd

    from audit.findings import evaluate_check, policy_from_dict
    from audit.findings.report_section import check_section
    from tests.audit.findings.plugin_check import MajorityShareType

    entry = {"id": "plain", **MajorityShareType.example(True)["entry"]}
    (check,) = policy_from_dict({"name": "p", "checks": [entry]}, source="test").checks
    labels = labels_of({"feminine": 98, "masculine": 2})
    rows = pd.DataFrame(
        {"record_id": [f"r{i}" for i in range(len(labels))], "seed": range(len(labels)), "label": labels}
    ).assign(prompt="a", item_id="a", classifier="c", attribute=entry["attribute"])
    result = evaluate_check(check, rows, None)
    monkeypatch.delattr(MajorityShareType, "report_section")
    section = check_section(check, result, rows, None)
    assert section.title.startswith("plain: share of the most common") and section.figure is not None
    assert [row[0] for row in section.rows] == ["prompt=a"] and section.rows[0][5] == "fail"
