"""``diffaudit gate``: a policy's verdict on a run as an exit code for CI."""

from __future__ import annotations

from pathlib import Path

from audit.commands.exit_codes import PASS, guarded
from audit.commands.saved_findings import saved_findings
from audit.core.errors import DiffauditError
from audit.core.run_store import RunStore
from audit.findings.gate import exit_code, gate_table


def gate_command(run_dir: Path, policy: str | None = None) -> tuple[list[str], int]:
    """Evaluate the policy on the run: 0 when every check passes, 1 when one of severity error fails.

    A current findings.json (see :mod:`audit.commands.saved_findings`) is the
    answer as it stands; otherwise the policy is evaluated on the scores.
    """

    def run() -> tuple[list[str], int]:
        saved = saved_findings(run_dir, policy)
        if saved is not None:
            name, source, findings = saved.policy, saved.source, saved.findings
            source += ", from findings.json"
        else:
            from audit.findings.analysis import analyze_run

            with RunStore.open(run_dir, lock=False) as store:
                analysis = analyze_run(store, policy, tables=False, validation=store.validation_summaries())
            name, source, findings = analysis.policy.name, analysis.policy.source, analysis.findings
        lines = [f"policy {name} ({source})", gate_table(findings)]
        if all(f.severity == "info" for f in findings):
            # A gate that measured nothing must not pass: the run lacks what the policy checks.
            raise DiffauditError(
                f"{run_dir}: no check of policy {name!r} applies to this run (all skipped); "
                "add the classifiers its checks need, or gate with a policy that fits the run"
            )
        code = exit_code(findings)
        lines.append("gate: " + ("PASS" if code == PASS else "FAIL"))
        return lines, code

    return guarded(run)
