"""The CI gate: the verdict of a policy on a run, a short table of its checks, and the exit code.

The verdict is "pass", "fail" or "not_judged":

- "not_judged" when no check applies to the run, or more than half of the
  groups of the checks that apply were not judged (too few judged images,
  every image abstained, no events in either arm, an unvalidated attribute),
  or a check of severity ``error`` was itself not judged (most of its groups,
  or with ``evidence_of_safety`` any of them);
- otherwise "fail" when a check of severity ``error`` failed, or (with the
  policy option ``underpowered: fail``) passed while underpowered: its data
  could not have shown a group twice as far from no effect as the limit
  (:mod:`audit.findings.detectable`);
- otherwise "pass".

A check that cannot apply to the run at all (no scores for its attribute, no
grouping column, no reference figure) is shown and counted, but does not
block a pass unless nothing applies. Exit codes: 0 pass, 1 fail, 2 not judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from audit.core.records import Finding

PASS, FAIL, NOT_JUDGED_EXIT = 0, 1, 2
VERDICT_EXIT = {"pass": PASS, "fail": FAIL, "not_judged": NOT_JUDGED_EXIT}


def verdict(results: Iterable[Any], *, underpowered: str = "pass") -> str:
    """The verdict over check results (objects with ``findings`` and a ``summary`` dict, see CheckResult);
    ``underpowered="fail"``: a gating check that passed underpowered fails."""
    results = list(results)
    applicable = [r for r in results if r.summary.get("applicable", True)]
    if not applicable:
        return "not_judged"
    groups = [f for r in applicable for f in r.findings]
    if sum(f.status == "not_judged" for f in groups) * 2 > len(groups):
        return "not_judged"
    gating = [r for r in applicable if r.summary.get("severity") == "error"]
    if any(r.summary.get("status") == "fail" for r in gating):
        return "fail"
    if any(r.summary.get("status") == "not_judged" for r in gating):
        return "not_judged"
    if underpowered == "fail" and any(r.summary.get("underpowered") for r in gating):
        return "fail"
    return "pass"


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when a group of severity ``error`` failed, else 0: for group-by-group comparisons (``compare``)."""
    return FAIL if any(f.status == "fail" and f.severity == "error" for f in findings) else PASS


def _label(f: Finding) -> str:
    if f.status == "not_judged":
        return "NOT JUDGED"
    if f.status == "pass":
        return "PASS"
    return "FAIL" if f.severity == "error" else "WARN"


def _check_label(group: list[Finding], status: str | None) -> str:
    status = status or ("fail" if any(f.status == "fail" for f in group) else "pass")
    if status == "not_applicable":
        return "N/A"
    if status == "not_judged":
        return "NOT JUDGED"
    if status == "fail":
        return "FAIL" if group[0].severity == "error" else "WARN"
    return "PASS"


def check_statuses(checks: Iterable[dict]) -> dict[str, str]:
    """Each check's status by id from findings.json's ``checks`` ("not_applicable" where it could not apply)."""
    return {c["id"]: c["status"] if c.get("applicable", True) else "not_applicable" for c in checks}


def _fmt(value: float | None) -> str:
    return "inf" if value is None else f"{value:.3g}"


def check_detectable(checks: Iterable[dict]) -> dict[str, dict]:
    """Each check's minimum detectable effect by id, from findings.json's ``checks`` (where it has one)."""
    return {c["id"]: c["detectable"] for c in checks if c.get("detectable")}


def gate_table(
    findings: Sequence[Finding],
    *,
    details: int = 10,
    statuses: dict[str, str] | None = None,
    detectable: dict[str, dict] | None = None,
) -> str:
    """One line per check (status, failed / judged / not judged groups, worst value with its interval, limit,
    and the minimum detectable effect at the policy's power), then the underpowered passes, the failures and
    the groups not judged. ``statuses``: each check's status ("not_applicable" shows N/A); ``detectable``:
    each check's minimum detectable effect (see :func:`check_detectable`; without it, no MDE column)."""
    statuses = statuses or {}
    show_mde = detectable is not None
    detectable = detectable or {}
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f)
    rows = [("status", "check", "failed", "not judged", "worst", "95% CI", "limit", "MDE")]
    for check, group in by_check.items():
        judged = [f for f in group if f.status != "not_judged"]
        worst = (
            max(judged, key=lambda f: (f.status == "fail", f.value if f.value is not None else float("inf")))
            if judged
            else None
        )
        found = detectable.get(check) or {}
        label = _check_label(group, statuses.get(check))
        rows.append(
            (
                label + (" UNDERPOWERED" if found.get("underpowered") and label == "PASS" else ""),
                check,
                f"{sum(f.status == 'fail' for f in group)}/{len(judged)}",
                str(len(group) - len(judged)),
                "-" if worst is None else _fmt(worst.value),
                f"{_fmt(worst.ci[0])}-{_fmt(worst.ci[1])}" if worst and worst.ci else "-",
                "-" if group[0].threshold is None else f"{group[0].threshold:.3g}",
                _mde(found),
            )
        )
    if not show_mde:
        rows = [row[:-1] for row in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    if detectable:
        power = next(iter(detectable.values())).get("power", 0.8)
        lines.append(
            f"MDE: the smallest value the weakest judged group would be failed at with {power:.0%} power "
            "(minimum detectable effect; none: no value would be)"
        )
    for check, found in detectable.items():
        if found.get("underpowered") and statuses.get(check, "pass") == "pass":
            lines.append(f"UNDERPOWERED {check}: {found.get('summary', '')}")
    failures = [f for f in findings if f.status == "fail"]
    for f in failures[:details]:
        lines.append(f"{_label(f)} {f.check}: {f.summary}")
    if 0 < details < len(failures):
        lines.append(f"... and {len(failures) - details} more failed group(s); see findings.json")
    unjudged = [f for f in findings if f.status == "not_judged"]
    for f in unjudged[:details]:
        label = "N/A" if f.summary.startswith("not applicable: ") else "NOT JUDGED"
        lines.append(f"{label} {f.check}: {f.summary.removeprefix('not applicable: ')}")
    if 0 < details < len(unjudged):
        lines.append(f"... and {len(unjudged) - details} more group(s) not judged; see findings.json")
    return "\n".join(lines)


def _mde(found: dict) -> str:
    if not found:
        return "-"
    return "none" if found.get("mde") is None else f"{found['mde']:.3g}"


_SCOPE_KEYS = frozenset({"attribute", "classifier", "by", "label", "between"})


def _group_of(finding: Finding) -> tuple[tuple[str, Any], ...]:
    """The group a finding judges: its scope less what names the check (attribute, classifier, ...)."""
    return tuple((k, v) for k, v in finding.scope.items() if k not in _SCOPE_KEYS)


def group_verdicts(findings: Sequence[Finding]) -> str:
    """One line per judged group (an occupation, a prompt): FAIL, WARN, PASS or NOT JUDGED, and which checks failed.

    A group fails when a check of severity ``error`` fails for it; checks that judge
    no single group (amplification across groups) are in :func:`gate_table`, not here.
    """
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        key = _group_of(f)
        if key:
            groups.setdefault(key, []).append(f)
    if not groups:
        return "no check judged a single group"
    names = [", ".join(f"{k}={v}" for k, v in key) for key in groups]
    width = max(len("group"), *(len(n) for n in names))
    lines = [f"{'group'.ljust(width)}  verdict     failed checks"]
    for name, group in sorted(zip(names, groups.values(), strict=True)):
        failed = [f for f in group if f.status == "fail"]
        if any(f.severity == "error" for f in failed):
            status = "FAIL"
        elif any(f.status == "not_judged" and f.severity == "error" for f in group):
            status = "NOT JUDGED"
        else:
            status = "WARN" if failed else "PASS"
        detail = ", ".join(
            f"{f.check} ({_fmt(f.value)}){'' if f.severity == 'error' else ' [warning]'}"
            for f in sorted(failed, key=lambda f: (f.severity != "error", f.check))
        )
        lines.append(f"{name.ljust(width)}  {status.ljust(10)}  {detail}".rstrip())
    return "\n".join(lines)
