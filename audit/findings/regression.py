"""Baseline vs candidate: group by group, is the candidate significantly worse on the policy's checks?

What "worse" means, and the test of a group's change, is each check type's own (``compare_unpaired`` in its
module of :mod:`audit.findings.checks`: a larger distance from the reference, a higher rate, a larger risk
ratio, a steeper slope; :mod:`audit.findings.run_changes` holds the shared row builders). A group regresses
when the candidate is worse and the difference is significant after Benjamini-Hochberg over every comparison.
(The tests are two-sided, so requiring the worse direction on top makes them conservative: one-sided at
alpha/2.) A group both runs have whose change no test can judge (an estimate missing in one run) is a
not-judged finding with its reason, never a pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from audit.core.records import Finding
from audit.findings.checks import CHECK_TYPES
from audit.findings.policy import (
    Policy,
)
from audit.stats import benjamini_hochberg

REGRESSION_PREFIX = "regression:"


def compare_runs(
    baseline: pd.DataFrame,
    candidate: pd.DataFrame,
    policy: Policy,
    categories=None,
    *,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[list[Finding], pd.DataFrame]:
    """Findings (one per compared group, status "fail" where it regressed significantly) and the comparison table."""
    rng = np.random.default_rng(seed)
    rows = []
    for check in policy.checks:
        rows_of = getattr(CHECK_TYPES.get(check.check), "compare_unpaired", None)
        if rows_of is None:  # a type that compares no runs (its no_comparison says why)
            continue
        rows.extend(rows_of(check, baseline, candidate, categories, rng))
    table = pd.DataFrame(rows)
    if table.empty:
        return [], table
    table["p_adjusted"] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float))
    table["regression"] = (table["change"] > 0) & (table["p_adjusted"] < alpha)
    findings = []
    for row in table.to_dict("records"):
        scope = {"attribute": row["attribute"], "classifier": row["classifier"]}
        scope.update({k: row[k] for k in row["_by"]})
        where = ", ".join(f"{k}={row[k]}" for k in row["_by"]) or "all"
        tested = bool(np.isfinite(row["p_value"]))
        if not tested:
            # A group both runs have but whose change no test could judge (a slope that could not be fitted in
            # one run): not judged, shown, never a pass.
            summary = f"{where}: not judged: {row['_note']}"
        else:
            summary = (
                f"{where}: {row['measure']} {_show(row['baseline'])} -> {_show(row['candidate'])} "
                f"({row['test']} BH-adjusted p={row['p_adjusted']:.3g}; "
                f"n={row['n_baseline']} vs {row['n_candidate']}){row['_note']}"
            )
        findings.append(
            Finding(
                check=REGRESSION_PREFIX + row["check"],
                scope=scope,
                value=float(row["change"]) if tested else None,
                ci=None,
                threshold=alpha,
                status=("fail" if row["regression"] else "pass") if tested else "not_judged",
                severity=row["severity"],
                summary=summary,
                evidence=row["_evidence"],
                decide="evidence_of_harm",
                rule=(
                    "Evidence of harm: a group regresses only if the candidate is significantly worse than the "
                    f"baseline (two-sided test, Benjamini-Hochberg over every comparison); alpha={alpha:g} bounds "
                    "the chance of flagging a candidate no worse than its baseline anywhere."
                ),
                unit="this group in both runs",
                n_judged=int(row["n_candidate"]),
                p_value=float(row["p_value"]) if tested else None,
                p_adjusted=float(row["p_adjusted"]) if tested else None,
            )
        )
    return findings, table.drop(columns=["_by", "_evidence", "_note"], errors="ignore")


def _show(value: float) -> str:
    return "inf" if np.isinf(value) else f"{value:.3f}"


def compare_run_dirs(
    baseline: str | Path, candidate: str | Path, policy: str | Path | Policy | None = None, *, alpha: float = 0.05
) -> tuple[list[Finding], pd.DataFrame, Policy]:
    """Compare two run directories under ``policy`` (default: the candidate run's own policy)."""
    from audit.core.run_store import RunStore
    from audit.findings.analysis import merged_categories, policy_for, run_labels

    with RunStore.open(baseline, lock=False) as base_store, RunStore.open(candidate, lock=False) as cand_store:
        chosen = policy_for(cand_store, policy)
        base_labels, base_categories = run_labels(base_store)
        cand_labels, cand_categories = run_labels(cand_store)
    categories = merged_categories(base_categories, cand_categories)
    findings, table = compare_runs(base_labels, cand_labels, chosen, categories, alpha=alpha)
    return findings, table, chosen
