"""The verdict a finished run ends with: the policy's checks and each group's pass or fail, from findings.json."""

from __future__ import annotations

from audit.core.records import Finding
from audit.core.run_store import FINDINGS, RunStore, UnreadableRunFile, read_run_json
from audit.findings.gate import check_statuses, gate_table, group_verdicts


def verdict_lines(store: RunStore) -> list[str]:
    """The verdict table of the run's findings.json (nothing when the run has none: no scores, no policy)."""
    data = read_run_json(store.root, FINDINGS)
    if data is None:
        return []
    try:
        findings = [Finding.from_dict(entry) for entry in data["findings"]]
        statuses = check_statuses(data["checks"])
        status = str(data["verdict"])  # written with the findings by the analysis that just ran
        policy = f"policy {data['policy']} ({data['policy_source']})"
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise UnreadableRunFile(store.root, FINDINGS, f"not a findings record: {exc!r}") from None
    lines = [policy, gate_table(findings, details=0, statuses=statuses)]
    lines += ["", group_verdicts(findings), ""]
    failed = sum(f.status == "fail" and f.severity == "error" for f in findings)
    judged = sum(f.status != "not_judged" for f in findings)
    lines.append(
        f"verdict: {status.upper().replace('_', ' ')} ({failed} failed group check(s) of severity error; "
        f"{judged} of {len(findings)} group checks judged)"
    )
    return lines
