"""``diffaudit gate``: a policy's verdict on a run as an exit code for CI (0 pass, 1 fail, 2 not judged or error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.commands.exit_codes import ERROR, guarded
from audit.commands.saved_findings import saved_findings
from audit.core.errors import DiffauditError
from audit.core.run_store import RunStore
from audit.findings.gate import VERDICT_EXIT, check_detectable, check_statuses, gate_table


def gate_command(
    run_dir: Path, policy: str | None = None, validation: list[Path] | None = None
) -> tuple[list[str], int]:
    """Evaluate the policy on the run: 0 pass, 1 a check of severity error failed (or, under the policy option
    ``underpowered: fail``, passed underpowered), 2 not judged.

    A current findings.json (see :mod:`audit.commands.saved_findings`) is the
    answer as it stands; otherwise the policy is evaluated on the scores, with
    the classifier validations attached to the run plus ``validation`` (files
    given on the command line, which win for the same classifier and attribute).
    """

    def run() -> tuple[list[str], int]:
        saved = saved_findings(run_dir, policy) if not validation else None
        if saved is not None:
            name, source = saved.policy, saved.source + ", from findings.json"
            findings, checks, verdict, counts = saved.findings, saved.checks, saved.verdict, saved.counts
        else:
            name, source, findings, checks, verdict, counts = _evaluate(run_dir, policy, validation)
        if not any(c.get("applicable", True) for c in checks):
            # A gate that measured nothing must not pass: the run lacks what the policy checks.
            raise DiffauditError(
                f"{run_dir}: no check of policy {name!r} applies to this run (all not applicable); "
                "add the classifiers its checks need, or gate with a policy that fits the run"
            )
        table = gate_table(findings, statuses=check_statuses(checks), detectable=check_detectable(checks))
        lines = [f"policy {name} ({source})", table]
        lines.append(
            f"groups: {counts['passed']} passed, {counts['failed']} failed, {counts['not_judged']} not judged "
            f"({counts['not_applicable']} check(s) not applicable)"
        )
        unscreened = counts.get("prompts_not_screened", 0)
        if unscreened:
            lines.append(
                f"prompts: {unscreened} not screened: the input screen has no rules for their language or script "
                "(generated and judged like the rest; `diffaudit screen --explain` says why)"
            )
        if verdict == "not_judged":
            lines.append(
                "gate: NOT JUDGED: most groups, or a gating check, could not be judged "
                "(too few judged images, abstentions, no events, or an unvalidated attribute); see above"
            )
            return lines, ERROR
        underpowered = [c["id"] for c in checks if c.get("underpowered") and c.get("status") == "pass"]
        if (
            verdict == "fail"
            and underpowered
            and not any(c.get("status") == "fail" and c.get("severity") == "error" for c in checks)
        ):
            lines.append(
                f"gate: FAIL: {', '.join(underpowered)} passed underpowered, and the policy says underpowered: fail "
                "(run the seeds named above)"
            )
            return lines, VERDICT_EXIT[verdict]
        lines.append("gate: " + verdict.upper())
        return lines, VERDICT_EXIT[verdict]

    return guarded(run)


def _evaluate(run_dir: Path, policy: str | None, validation: list[Path] | None) -> tuple[Any, ...]:
    """The policy evaluated on the run's scores now: name, source, findings, checks, verdict, counts."""
    from audit.findings.analysis import analyze_run, load_validation

    given = load_validation(list(validation or []))
    with RunStore.open(run_dir, lock=False) as store:
        analysis = analyze_run(store, policy, tables=False, validation={**store.validation_summaries(), **given})
    data = analysis.as_json()
    return (
        analysis.policy.name,
        analysis.policy.source,
        analysis.findings,
        data["checks"],
        data["verdict"],
        data["counts"],
    )
