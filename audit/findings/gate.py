"""The CI gate: a short table of a policy's checks and the exit code (0 pass, 1 a check failed)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit.core.records import Finding

PASS, FAIL = 0, 1


def exit_code(findings: Sequence[Finding]) -> int:
    """1 when a check of severity ``error`` failed, else 0 (warnings and skipped checks pass)."""
    return FAIL if any(not f.passed and f.severity == "error" for f in findings) else PASS


def _status(group: list[Finding]) -> str:
    if all(f.severity == "info" for f in group):
        return "SKIP"
    failed = [f for f in group if not f.passed]
    if not failed:
        return "PASS"
    return "FAIL" if any(f.severity == "error" for f in failed) else "WARN"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def gate_table(findings: Sequence[Finding], *, details: int = 10) -> str:
    """One line per check (status, failed/total groups, worst value with its interval, limit), then the failures."""
    by_check: dict[str, list[Finding]] = {}
    for f in findings:
        by_check.setdefault(f.check, []).append(f)
    rows = [("status", "check", "failed", "worst", "95% CI", "limit")]
    for check, group in by_check.items():
        judged = [f for f in group if f.severity != "info" and f.value is not None]
        worst = max(judged, key=lambda f: (not f.passed, f.value)) if judged else None
        rows.append(
            (
                _status(group),
                check,
                f"{sum(not f.passed for f in group)}/{len(judged)}",
                _fmt(worst.value if worst else None),
                f"{_fmt(worst.ci[0])}-{_fmt(worst.ci[1])}" if worst and worst.ci else "-",
                _fmt(group[0].threshold),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    failures = [f for f in findings if not f.passed]
    for f in failures[:details]:
        lines.append(f"{'FAIL' if f.severity == 'error' else 'WARN'} {f.check}: {f.summary}")
    if 0 < details < len(failures):
        lines.append(f"... and {len(failures) - details} more failed group(s); see findings.json")
    skipped = [f for f in findings if f.severity == "info"]
    for f in skipped:
        lines.append(f"SKIP {f.check}: {f.summary.removeprefix('skipped: ')}")
    return "\n".join(lines)


_SCOPE_KEYS = frozenset({"attribute", "classifier", "by", "label", "between"})


def _group_of(finding: Finding) -> tuple[tuple[str, Any], ...]:
    """The group a finding judges: its scope less what names the check (attribute, classifier, ...)."""
    return tuple((k, v) for k, v in finding.scope.items() if k not in _SCOPE_KEYS)


def group_verdicts(findings: Sequence[Finding]) -> str:
    """One line per judged group (an occupation, a prompt): FAIL, WARN or PASS, and which checks failed.

    A group fails when a check of severity ``error`` fails for it; checks that judge
    no single group (amplification across groups) are in :func:`gate_table`, not here.
    """
    groups: dict[tuple, list[Finding]] = {}
    for f in findings:
        key = _group_of(f)
        if key and f.severity != "info":
            groups.setdefault(key, []).append(f)
    if not groups:
        return "no check judged a single group"
    names = [", ".join(f"{k}={v}" for k, v in key) for key in groups]
    width = max(len("group"), *(len(n) for n in names))
    lines = [f"{'group'.ljust(width)}  verdict  failed checks"]
    for name, group in sorted(zip(names, groups.values(), strict=True)):
        failed = [f for f in group if not f.passed]
        errors = [f for f in failed if f.severity == "error"]
        status = "FAIL" if errors else ("WARN" if failed else "PASS")
        detail = ", ".join(
            f"{f.check} ({_fmt(f.value)}){'' if f.severity == 'error' else ' [warning]'}"
            for f in sorted(failed, key=lambda f: (f.severity != "error", f.check))
        )
        lines.append(f"{name.ljust(width)}  {status.ljust(7)}  {detail}".rstrip())
    return "\n".join(lines)
