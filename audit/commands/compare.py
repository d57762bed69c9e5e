"""``diffaudit compare``: is a candidate model significantly worse than a baseline, group by group?"""

from __future__ import annotations

import json
from pathlib import Path

from audit.commands.exit_codes import FAIL, PASS, guarded
from audit.core.errors import ConfigError, DiffauditError
from audit.findings.gate import exit_code, gate_table
from audit.findings.regression import compare_run_dirs


def compare_command(
    baseline: Path,
    candidate: Path,
    policy: str | None = None,
    *,
    alpha: float = 0.05,
    fail_on_regression: bool = False,
    out: Path | None = None,
) -> tuple[list[str], int]:
    """Group-by-group regression tests of candidate against baseline; exit 1 on a regression if asked."""

    def run() -> tuple[list[str], int]:
        if not 0 < alpha < 1:
            raise ConfigError(f"--alpha must be between 0 and 1, got {alpha}")
        findings, table, chosen = compare_run_dirs(baseline, candidate, policy, alpha=alpha)
        regressions = [f for f in findings if not f.passed]
        lines = [f"policy {chosen.name}: {len(findings)} group comparison(s), BH at {alpha:g}"]
        lines.append(gate_table(findings) if findings else "nothing to compare: no group is in both runs")
        if out is not None:
            payload = {
                "baseline": str(baseline),
                "candidate": str(candidate),
                "policy": chosen.name,
                "alpha": alpha,
                "regressions": len(regressions),
                "findings": [f.as_dict() for f in findings],
            }
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
            lines.append(f"wrote: {out}")
        if fail_on_regression and not findings:
            # Gating on a comparison that compared nothing would pass vacuously.
            raise DiffauditError(
                f"nothing to compare between {baseline} and {candidate}: no group of policy "
                f"{chosen.name!r} was measured in both runs"
            )
        code = FAIL if fail_on_regression and exit_code(findings) else PASS
        verdict = f"{len(regressions)} significant regression(s)" if regressions else "no significant regression"
        lines.append(f"compare: {verdict}")
        return lines, code

    return guarded(run)
