"""``diffaudit gate``: a policy's verdict on a run as an exit code for CI."""

from __future__ import annotations

from pathlib import Path

from audit.commands.exit_codes import PASS, guarded
from audit.core.errors import DiffauditError
from audit.core.run_store import RunStore
from audit.findings.analysis import analyze_run
from audit.findings.gate import exit_code, gate_table


def gate_command(run_dir: Path, policy: str | None = None) -> tuple[list[str], int]:
    """Evaluate the policy on the run: 0 when every check passes, 1 when one of severity error fails."""

    def run() -> tuple[list[str], int]:
        from audit.runner import validation_summaries

        with RunStore.open(run_dir, lock=False) as store:
            analysis = analyze_run(store, policy, tables=False, validation=validation_summaries(store))
        lines = [f"policy {analysis.policy.name} ({analysis.policy.source})", gate_table(analysis.findings)]
        if all(f.severity == "info" for f in analysis.findings):
            # A gate that measured nothing must not pass: the run lacks what the policy checks.
            raise DiffauditError(
                f"{run_dir}: no check of policy {analysis.policy.name!r} applies to this run (all skipped); "
                "add the classifiers its checks need, or gate with a policy that fits the run"
            )
        code = exit_code(analysis.findings)
        lines.append("gate: " + ("PASS" if code == PASS else "FAIL"))
        return lines, code

    return guarded(run)
