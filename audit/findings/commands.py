"""What the ``analyze``, ``gate``, ``compare`` and ``plan`` verbs do, apart from argument parsing.

Each returns the lines to print and the exit code, so the CLI stays a thin
layer and the behaviour is testable without it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from audit.errors import ConfigError, DiffauditError
from audit.findings.analysis import analyze_run, load_validation, write_analysis
from audit.findings.gate import FAIL, PASS, exit_code, gate_table
from audit.findings.regression import compare_run_dirs
from audit.run_store import RunStore

log = logging.getLogger(__name__)
ERROR = 2


def analyze_command(run_dir: Path, validation: list[Path] | None = None) -> tuple[list[str], int]:
    """Write tables/*.parquet and findings.json; prints their paths. Exit 0 whatever the findings.

    ``validation``: classifier validation summaries; with them the shares are
    also corrected for classifier error (tables/corrected_prompt.parquet).
    """
    summaries = load_validation(list(validation or []))
    with RunStore.open(run_dir) as store:
        paths = write_analysis(store, analyze_run(store, validation=summaries))
    return [f"wrote: {p}" for p in paths], PASS


def _guarded(func, *args, **kwargs) -> tuple[list[str], int]:
    """A gate must never report 'failed' (1) for a crash: unexpected errors exit 2 too."""
    try:
        return func(*args, **kwargs)
    except DiffauditError:
        raise
    except Exception as exc:  # any crash is an error, not a failed check
        log.debug("gate crashed", exc_info=True)
        raise DiffauditError(f"internal error ({type(exc).__name__}: {exc})") from exc


def gate_command(run_dir: Path, policy: str | None = None) -> tuple[list[str], int]:
    """Evaluate the policy on the run: 0 when every check passes, 1 when one of severity error fails."""

    def run() -> tuple[list[str], int]:
        with RunStore.open(run_dir, lock=False) as store:
            analysis = analyze_run(store, policy, tables=False)
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

    return _guarded(run)


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

    return _guarded(run)


def plan_command(
    suites: list[str],
    *,
    tv: float = 0.15,
    power: float = 0.8,
    alpha: float = 0.05,
    categories: int = 2,
    unknown_rate: float = 0.0,
) -> tuple[list[str], int]:
    """Images per prompt each suite needs to detect a deviation of ``tv`` with ``power``."""
    from audit.stats import plan
    from probes import load_suite

    header = ("suite", "prompts", "seeds now", "images/prompt", "run-controlled", "total images")
    rows = [header]
    for name in suites:
        suite = load_suite(name)
        prompts = len(suite.expand())
        try:
            result = plan(prompts, tv=tv, categories=categories, alpha=alpha, power=power, unknown_rate=unknown_rate)
        except ValueError as exc:
            raise ConfigError(f"plan: {exc}") from None
        rows.append(
            (
                suite.name,
                str(prompts),
                str(len(suite.default_seeds())),
                str(result["images_per_prompt"]),
                str(result["images_per_prompt_run_controlled"]),
                str(result["total_images_run_controlled"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        f"to detect a deviation of {tv:g} TV from the reference over {categories} labels "
        f"with power {power:g} at level {alpha:g} (abstentions {unknown_rate:.0%}):"
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("run-controlled: per prompt at level alpha/prompts, so the power holds with every prompt tested")
    return lines, PASS
