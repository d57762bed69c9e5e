"""The verdict a finished run ends with: the policy's checks and each group's pass or fail, from findings.json."""

from __future__ import annotations

import json

from audit.core.records import Finding
from audit.core.run_store import FINDINGS, RunStore
from audit.findings.gate import check_detectable, check_statuses, gate_table, group_verdicts


def verdict_lines(store: RunStore) -> list[str]:
    """The verdict table of the run's findings.json (nothing when the run has none: no scores, no policy)."""
    path = store.root / FINDINGS
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    findings = [Finding.from_dict(entry) for entry in data["findings"]]
    statuses = check_statuses(data["checks"])
    table = gate_table(findings, details=0, statuses=statuses, detectable=check_detectable(data["checks"]))
    lines = [f"policy {data['policy']} ({data['policy_source']})", table]
    lines += ["", group_verdicts(findings), ""]
    status = data["verdict"]  # written with the findings by the analysis that just ran
    failed = sum(f.status == "fail" and f.severity == "error" for f in findings)
    judged = sum(f.status != "not_judged" for f in findings)
    lines.append(
        f"verdict: {status.upper().replace('_', ' ')} ({failed} failed group check(s) of severity error; "
        f"{judged} of {len(findings)} group checks judged)"
    )
    return lines
