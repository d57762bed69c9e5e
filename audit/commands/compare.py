"""``diffaudit compare``: is a candidate worse than a baseline, group by group — or did a mitigation help?

Two runs of the same prompts and seeds (a run and its mitigated twin) are
compared pair by pair (:mod:`audit.findings.mitigation`): the change of
every policy metric with a paired interval, and what the mitigation cost.
The result is also written to the candidate run (comparison.json), where
its report shows it. Runs of different prompts or seeds (two models) are
compared group by group as independent samples (:mod:`audit.findings.regression`).
"""

from __future__ import annotations

import json
from pathlib import Path

from audit.commands.exit_codes import FAIL, PASS, guarded
from audit.core.errors import ConfigError, DiffauditError
from audit.core.run_store import COMPARISON, RunStore
from audit.findings.gate import exit_code, gate_table


def compare_command(
    baseline: Path,
    candidate: Path,
    policy: str | None = None,
    *,
    alpha: float = 0.05,
    fail_on_regression: bool = False,
    out: Path | None = None,
    design: str = "auto",
) -> tuple[list[str], int]:
    """Compare candidate with baseline (paired when they share prompts and seeds); exit 1 on a regression if asked.

    ``design``: ``auto`` (paired when the runs share at least 90% of their
    (prompt, seed) pairs), ``paired`` or ``unpaired``.
    """

    def run() -> tuple[list[str], int]:
        if not 0 < alpha < 1:
            raise ConfigError(f"--alpha must be between 0 and 1, got {alpha}")
        if design != "unpaired":
            outcome = _paired(
                baseline,
                candidate,
                policy,
                alpha=alpha,
                fail_on_regression=fail_on_regression,
                out=out,
                required=design == "paired",
            )
            if outcome is not None:
                return outcome
        from audit.findings.regression import compare_run_dirs

        findings, table, chosen = compare_run_dirs(baseline, candidate, policy, alpha=alpha)
        regressions = [f for f in findings if f.status == "fail"]
        unjudged = sum(f.status == "not_judged" for f in findings)
        lines = [f"policy {chosen.name}: {len(findings)} group comparison(s), BH at {alpha:g}"]
        if unjudged:
            lines.append(f"{unjudged} group comparison(s) not judged: no test of the change was possible")
        lines.append(gate_table(findings) if findings else "nothing to compare: no group is in both runs")
        if out is not None:
            payload = {
                "baseline": str(baseline),
                "candidate": str(candidate),
                "policy": chosen.name,
                "alpha": alpha,
                "regressions": len(regressions),
                "not_judged": unjudged,
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


def _paired(
    baseline: Path,
    candidate: Path,
    policy: str | None,
    *,
    alpha: float,
    fail_on_regression: bool,
    out: Path | None,
    required: bool,
) -> tuple[list[str], int] | None:
    """The paired comparison, or None when the runs are not paired (and pairing was not required)."""
    from audit.findings.mitigation import compare_mitigation, is_paired, shared_pairs

    with RunStore.open(baseline, lock=False) as base, RunStore.open(candidate) as cand:
        counts = shared_pairs(base, cand)
        if not is_paired(counts):
            if required:
                raise DiffauditError(
                    f"{baseline} and {candidate} are not paired: they share {counts['shared']} (prompt, seed) pairs, "
                    f"with {counts['baseline_only']} and {counts['mitigated_only']} of their own"
                )
            return None
        comparison = compare_mitigation(base, cand, policy, alpha=alpha)
        payload = comparison.as_json()
        payload["mitigation_described"] = _describe(payload["mitigation"])
        cand.write_json(COMPARISON, payload)
    lines = [
        f"paired comparison of {counts['shared']} (prompt, seed) pairs under policy {payload['policy']} "
        f"(BH at {alpha:g}); mitigation: {payload['mitigation_described']}",
        _changes_table(comparison.changes),
    ]
    lines += _cost_lines(comparison)
    lines.append(f"wrote: {Path(candidate) / COMPARISON}")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        lines.append(f"wrote: {out}")
    if comparison.changes.empty:
        if fail_on_regression:
            raise DiffauditError(
                f"nothing to compare between {baseline} and {candidate}: no check of policy "
                f"{payload['policy']!r} has its attribute scored in both runs"
            )
        lines.append("compare: nothing compared (no check's attribute was scored in both runs)")
        return lines, PASS
    directions = comparison.changes["direction"].value_counts().to_dict()
    worse = [f for f in comparison.findings if f.status == "fail"]
    lines.append(
        "compare: "
        + ", ".join(f"{directions.get(d, 0)} {d}" for d in ("improved", "worse", "no significant change", "not judged"))
    )
    lines.append(f"compare: {len(worse)} significant regression(s)" if worse else "compare: no significant regression")
    code = FAIL if fail_on_regression and any(f.severity == "error" for f in worse) else PASS
    return lines, code


def _describe(mitigation: dict | None) -> str:
    if not mitigation:
        return "none stated in the candidate's config"
    from generators.mitigation import Mitigation, PromptRewrite

    data = dict(mitigation)
    if data.get("rewrite"):
        data["rewrite"] = PromptRewrite(**data["rewrite"])
    return Mitigation(**data).describe()


def _fmt(value: float | None, spec: str = "+.3f") -> str:
    return "-" if value is None or value != value else format(value, spec)


def _changes_table(changes) -> str:
    if changes.empty:
        return "no check could be compared"
    rows = [("check", "group", "measure", "baseline", "mitigated", "change (95% CI)", "p adj", "pairs", "")]
    for r in changes.to_dict("records"):
        group = ", ".join(f"{k}={v}" for k, v in r["group"].items()) or "all"
        rows.append(
            (
                r["check"],
                group[:48],
                r["measure"],
                _fmt(r["baseline"], ".3f"),
                _fmt(r["mitigated"], ".3f"),
                f"{_fmt(r['change'])} ({_fmt(r['change_low'])} to {_fmt(r['change_high'])})",
                _fmt(r["p_adjusted"], ".3g"),
                str(r["n_pairs"]),
                r["direction"],
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def _cost_lines(comparison) -> list[str]:
    lines = []
    embedding = comparison.embedding
    if not embedding.empty:
        for r in embedding[embedding["prompt"] == "all prompts"].to_dict("records"):
            lines.append(
                f"cost: images moved by a mean cosine distance of {r['mean_distance']:.3f} "
                f"(95% CI {r['distance_low']:.3f}-{r['distance_high']:.3f}; {r['classifier']}, {r['n_pairs']} pairs)"
            )
    loss = comparison.loss
    if not loss.empty:
        for what, group in loss.groupby("what", sort=True):
            lost, had = int(group["lost"].sum()), int(group["n_with_label"].sum())
            lines.append(f"cost: the {what} was lost in {lost} of {had} pairs where the baseline image had it")
    return lines
