"""The verdict a finished run ends with: the policy's checks and each group's pass or fail, from findings.json."""

from __future__ import annotations

from audit.core.records import Finding
from audit.core.run_store import FINDINGS, RunStore, UnreadableRunFile, read_run_json
from audit.findings.gate import check_detectable, check_statuses, gate_table, group_verdicts


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
    table = gate_table(findings, details=0, statuses=statuses, detectable=check_detectable(data["checks"]))
    lines = [policy, table]
    lines += not_judged_reasons(findings, statuses)
    lines += ["", group_verdicts(findings), ""]
    failed = sum(f.status == "fail" and f.severity == "error" for f in findings)
    judged = sum(f.status != "not_judged" for f in findings)
    if status == "not_judged" and judged == 0:
        lines.append("Nothing was judged: no check of the policy could be decided on this run's images.")
    lines.append(
        f"verdict: {status.upper().replace('_', ' ')} ({failed} failed group check(s) of severity error; "
        f"{judged} of {len(findings)} group checks judged)"
    )
    return lines


def not_judged_reasons(findings: list[Finding], statuses: dict[str, str]) -> list[str]:
    """One line per check with groups not judged (or not applicable): its status and each distinct reason, counted."""
    from collections import Counter

    by_check: dict[str, Counter] = {}
    for f in findings:
        if f.status == "not_judged":
            by_check.setdefault(f.check, Counter())[f.summary.removeprefix("not applicable: ")] += 1
    lines = []
    for check, reasons in by_check.items():
        label = "N/A" if statuses.get(check) == "not_applicable" else "NOT JUDGED"
        for reason, n in reasons.most_common():
            lines.append(f"{label} {check}{f' ({n} groups)' if n > 1 else ''}: {reason}")
    return lines
