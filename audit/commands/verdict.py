"""The verdict a finished run ends with: the policy's checks and each group's pass or fail, from findings.json."""

from __future__ import annotations

import json

from audit.core.records import Finding
from audit.core.run_store import FINDINGS, RunStore
from audit.findings.gate import exit_code, gate_table, group_verdicts


def verdict_lines(store: RunStore) -> list[str]:
    """The verdict table of the run's findings.json (nothing when the run has none: no scores, no policy)."""
    path = store.root / FINDINGS
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    findings = [Finding.from_dict(entry) for entry in data["findings"]]
    lines = [f"policy {data['policy']} ({data['policy_source']})", gate_table(findings, details=0), ""]
    lines += [group_verdicts(findings), ""]
    if all(f.severity == "info" for f in findings):
        lines.append("verdict: NOTHING CHECKED (every check skipped)")
    else:
        failed = sum(not f.passed and f.severity == "error" for f in findings)
        status = "FAIL" if exit_code(findings) else "PASS"
        lines.append(f"verdict: {status} ({failed} failed group check(s) of severity error)")
    return lines
