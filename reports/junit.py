"""junit.xml: one test case per policy check, so CI systems show the verdict natively.

A check with a failing group is a failure; a check none of whose groups
could be judged is skipped (with the reason); a check whose groups all
passed passes (an underpowered pass says so in its output, and fails where the policy says
``underpowered: fail``). Warnings (severity ``warning``) are reported in the case's
output, not as failures, as the gate treats them.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def _line(finding: dict[str, Any]) -> str:
    scope = ", ".join(f"{k}={v}" for k, v in sorted(finding.get("scope", {}).items()))
    return f"[{scope}] {finding.get('summary', '')}"


def render_junit(digest: dict[str, Any]) -> str:
    """The JUnit XML of the digest's verdict (an empty suite when the run was not analysed)."""
    verdict = digest["verdict"]
    suite = ET.Element("testsuite", name=f"diffaudit.{verdict.get('policy') or 'not-analysed'}")
    failures = skipped = 0
    by_check: dict[str, list[dict[str, Any]]] = {}
    for finding in digest["findings"]:
        by_check.setdefault(finding["check"], []).append(finding)
    # Each check's own lines (its section: the largest values, a pooled rate, a slope), as its check type wrote them.
    own = {section["id"]: section.get("junit") or [] for section in digest.get("sections") or []}
    for check in verdict["checks"]:
        case = ET.SubElement(suite, "testcase", classname=f"diffaudit.{digest['name']}", name=check["id"])
        groups = check["groups"]
        counts = f"{groups['failed']} failed, {groups['passed']} passed, {groups['not_judged']} not judged"
        if check["status"] == "fail":
            failures += 1
            failing = [f for f in verdict["failing"] if f["check"] == check["id"]]
            message = f"{check['id']}: {counts}"
            failure = ET.SubElement(case, "failure", message=message, type="PolicyCheckFailed")
            failure.text = "\n".join(_line(f) for f in failing)
        elif check.get("underpowered") and verdict.get("policy_options", {}).get("underpowered") == "fail":
            failures += 1
            found = check.get("detectable") or {}
            message = f"{check['id']}: passed underpowered, and the policy fails underpowered passes"
            failure = ET.SubElement(case, "failure", message=message, type="Underpowered")
            failure.text = found.get("summary", "")
        elif check["status"] in ("not_judged", "not_applicable"):
            skipped += 1
            reasons = "; ".join(check.get("not_judged_reasons") or {}) or "no group could be judged"
            ET.SubElement(case, "skipped", message=f"{check['status'].replace('_', ' ')}: {reasons}")
        out = ET.SubElement(case, "system-out")
        found = check.get("detectable") or {}
        power = (
            [("UNDERPOWERED: " if check.get("underpowered") else "detectable: ") + found["summary"]]
            if found.get("summary")
            else []
        )
        out.text = "\n".join(
            [
                check.get("rule") or "",
                counts,
                *power,
                *own.get(check["id"], []),
                *(_line(f) for f in by_check.get(check["id"], [])),
            ]
        )
    suite.set("tests", str(len(verdict["checks"])))
    suite.set("failures", str(failures))
    suite.set("skipped", str(skipped))
    suite.set("errors", "0")
    ET.indent(suite)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
