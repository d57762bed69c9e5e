"""``diffaudit gate``: a policy's verdict on a run as an exit code for CI (0 pass, 1 fail, 2 not judged or error)."""

from __future__ import annotations

from pathlib import Path

from audit.commands.exit_codes import ERROR, guarded
from audit.core.errors import DiffauditError
from audit.core.run_store import RunStore
from audit.findings.analysis import analyze_run, load_validation
from audit.findings.gate import VERDICT_EXIT, gate_table


def gate_command(
    run_dir: Path, policy: str | None = None, validation: list[Path] | None = None
) -> tuple[list[str], int]:
    """Evaluate the policy on the run: 0 pass, 1 a check of severity error failed, 2 not judged.

    ``validation``: classifier validation summaries, for checks that judge corrected shares or require one.
    """

    def run() -> tuple[list[str], int]:
        summaries = load_validation(list(validation or []))
        with RunStore.open(run_dir, lock=False) as store:
            analysis = analyze_run(store, policy, tables=False, validation=summaries)
        results = analysis.results.values()
        if not any(r.summary.get("applicable", True) for r in results):
            # A gate that measured nothing must not pass: the run lacks what the policy checks.
            raise DiffauditError(
                f"{run_dir}: no check of policy {analysis.policy.name!r} applies to this run (all skipped); "
                "add the classifiers its checks need, or gate with a policy that fits the run"
            )
        statuses = {
            r.summary["id"]: r.summary["status"] if r.summary["applicable"] else "not_applicable" for r in results
        }
        lines = [
            f"policy {analysis.policy.name} ({analysis.policy.source})",
            gate_table(analysis.findings, statuses=statuses),
        ]
        data = analysis.as_json()
        counts = data["counts"]
        lines.append(
            f"groups: {counts['passed']} passed, {counts['failed']} failed, {counts['not_judged']} not judged "
            f"({counts['not_applicable']} check(s) not applicable)"
        )
        verdict = analysis.verdict
        if verdict == "not_judged":
            lines.append(
                "gate: NOT JUDGED: most groups, or a gating check, could not be judged "
                "(too few judged images, abstentions, no events, or an unvalidated attribute); see above"
            )
            return lines, ERROR
        lines.append("gate: " + verdict.upper())
        return lines, VERDICT_EXIT[verdict]

    return guarded(run)
