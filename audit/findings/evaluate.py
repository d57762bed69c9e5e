"""Turning a policy's checks into Finding records, from the per-image labels of a run."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from audit.core.constants import UNKNOWN
from audit.core.records import Finding
from audit.findings.policy import (
    AmplificationCheck,
    Check,
    DeviationCheck,
    Policy,
    RateCheck,
    ReferenceSpec,
    RiskRatioCheck,
    to_reference,
)
from audit.stats import (
    amplification_rows,
    benjamini_hochberg,
    deviation_rows,
    group_counts,
    paired_comparison,
    unpaired_comparison,
    wilson_interval,
)

Categories = Mapping[tuple[str, str], Sequence[str]]


@dataclasses.dataclass
class CheckResult:
    """A check's findings and the tidy table behind them (one row per group)."""

    findings: list[Finding]
    table: pd.DataFrame


def evaluate_policy(
    policy: Policy, labels: pd.DataFrame, categories: Categories | None = None, *, seed: int = 0
) -> dict[str, CheckResult]:
    """Every check of ``policy`` on the labels table of a run, keyed by check id."""
    return {check.id: evaluate_check(check, labels, categories, seed=seed) for check in policy.checks}


def evaluate_check(
    check: Check, labels: pd.DataFrame, categories: Categories | None = None, *, seed: int = 0
) -> CheckResult:
    """One check: a Finding per group (per check for amplification), or one skipped finding when it cannot apply."""
    subset = labels[labels["attribute"] == check.attribute]
    if check.classifier is not None:
        subset = subset[subset["classifier"] == check.classifier]
    if subset.empty:
        who = f" from classifier {check.classifier}" if check.classifier else ""
        return _skipped(check, f"no scores for attribute {check.attribute}{who} in this run")
    needed = list(getattr(check, "by", [])) + list(getattr(check, "within", []))
    if isinstance(check, RiskRatioCheck):
        needed.append(check.between)
    absent = [c for c in needed if c not in subset.columns]
    if absent:
        return _skipped(check, f"the run's probes have no attribute {', '.join(absent)}")
    categories = _with_check_labels(check, subset, categories)
    if isinstance(check, DeviationCheck):
        result = _deviation(check, subset, categories, seed)
    elif isinstance(check, RateCheck):
        result = _rate(check, subset, categories)
    elif isinstance(check, RiskRatioCheck):
        result = _risk_ratio(check, subset)
    else:
        result = _amplification(check, subset, categories)
    if not result.findings:
        # Every group was left out (all abstained, or none has a reference figure):
        # the check must still show, as skipped, never silently vanish.
        skipped = _skipped(
            check,
            f"no group could be judged on {check.attribute} "
            "(every image abstained, or no group has a reference figure)",
        )
        return CheckResult(skipped.findings, result.table)
    return result


def _with_check_labels(check: Check, labels: pd.DataFrame, categories: Categories | None) -> dict:
    """The label sets, with the labels the check names added.

    Classifiers that report only their decision write no row for a label no
    image received; a rate of 'yes' with no 'yes' anywhere is 0, not unknown.
    """
    named = set()
    if isinstance(check, (RateCheck, RiskRatioCheck, AmplificationCheck)):
        named.add(check.label)
    reference = getattr(check, "reference", None)
    if isinstance(reference, ReferenceSpec):
        named.update(reference.target or {})
        if reference.label:
            named.add(reference.label)
    out = {key: list(values) for key, values in (categories or {}).items()}
    for key in labels.groupby(["classifier", "attribute"]).groups:
        seen = out.get(key) or sorted(labels.loc[labels["classifier"] == key[0], "label"].astype(str).unique())
        out[key] = sorted(set(seen) | named)
    return out


def _skipped(check: Check, why: str) -> CheckResult:
    finding = Finding(
        check=check.id,
        scope={"attribute": check.attribute},
        value=None,
        ci=None,
        threshold=check.max,
        passed=True,
        severity="info",
        summary=f"skipped: {why}",
    )
    return CheckResult([finding], pd.DataFrame())


def _scope(check: Check, classifier: str, keys: Mapping) -> dict:
    scope = {"attribute": check.attribute, "classifier": classifier}
    scope.update({k: _plain(v) for k, v in keys.items()})
    return scope


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _where(keys: Mapping) -> str:
    return ", ".join(f"{k}={_plain(v)}" for k, v in keys.items()) or "all images"


def _deviation(check: DeviationCheck, labels: pd.DataFrame, categories, seed: int) -> CheckResult:
    rng = np.random.default_rng(seed)
    reference = to_reference(check.reference)
    frames = []
    for gc in group_counts(labels, by=check.by, categories=categories):
        try:
            frames.append(deviation_rows(gc, reference, rng=rng))
        except ValueError as exc:
            return _skipped(check, str(exc))
    if not frames:
        return _skipped(check, f"every image abstained (unknown) on {check.attribute}")
    table = pd.concat(frames, ignore_index=True)
    table["p_adjusted"] = benjamini_hochberg(table["p_value"].to_numpy(dtype=float))
    findings = []
    metric = check.metric
    for row in table.to_dict("records"):
        keys = {k: row[k] for k in check.by}
        value = row[metric]
        if value != value:  # no reference figure or no labelled image: nothing to judge
            continue
        significant = row["p_adjusted"] < check.alpha
        passed = not (value > check.max and significant)
        findings.append(
            Finding(
                check=check.id,
                scope=_scope(check, row["classifier"], keys),
                value=float(value),
                ci=(float(row[f"{metric}_low"]), float(row[f"{metric}_high"])),
                threshold=check.max,
                passed=bool(passed),
                severity=check.severity,
                summary=(
                    f"{_where(keys)}: {metric} {value:.3f} from {reference.describe()} "
                    f"(95% CI {row[f'{metric}_low']:.3f}-{row[f'{metric}_high']:.3f}; {row['test']} "
                    f"BH-adjusted p={row['p_adjusted']:.3g}; n={row['n']}, unknown={row['n_unknown']}); "
                    f"limit {check.max:g}"
                ),
                evidence=tuple(row["evidence"]),
            )
        )
    return CheckResult(findings, table.drop(columns=["evidence"]))


def _rate(check: RateCheck, labels: pd.DataFrame, categories) -> CheckResult:
    rows, findings = [], []
    for gc in group_counts(labels, by=check.by, categories=categories):
        if check.label not in gc.labels:
            return _skipped(check, f"{check.label!r} is not a label of {gc.attribute} ({', '.join(gc.labels)})")
        j = gc.labels.index(check.label)
        count, n = gc.counts[:, j], gc.n
        low, high = wilson_interval(count, n)
        for i, keys in enumerate(gc.keys.to_dict("records")):
            if n[i] == 0:
                continue
            rate = count[i] / n[i]
            judged = rate if check.bound == "estimate" else high[i]
            rows.append({**keys, "classifier": gc.classifier, "label": check.label, "count": int(count[i])})
            rows[-1].update(n=int(n[i]), n_unknown=int(gc.unknown[i]), rate=rate, ci_low=low[i], ci_high=high[i])
            findings.append(
                Finding(
                    check=check.id,
                    scope=_scope(check, gc.classifier, keys),
                    value=float(rate),
                    ci=(float(low[i]), float(high[i])),
                    threshold=check.max,
                    passed=bool(judged <= check.max),
                    severity=check.severity,
                    summary=(
                        f"{_where(keys)}: {check.label} in {count[i]} of {n[i]} images = {rate:.3f} "
                        f"(Wilson 95% CI {low[i]:.3f}-{high[i]:.3f}); limit {check.max:g} on the {check.bound}"
                    ),
                    evidence=tuple(gc.records[i]),
                )
            )
    if not findings:
        return _skipped(check, f"every image abstained (unknown) on {check.attribute}")
    return CheckResult(findings, pd.DataFrame(rows))


def _risk_ratio(check: RiskRatioCheck, labels: pd.DataFrame) -> CheckResult:
    rows, findings = [], []
    labels = labels[labels["label"] != UNKNOWN]
    strata = labels.groupby(check.within, sort=True, dropna=False) if check.within else [((), labels)]
    for stratum_key, stratum in strata:
        stratum_key = stratum_key if isinstance(stratum_key, tuple) else (stratum_key,)
        keys = dict(zip(check.within, stratum_key, strict=True))
        for classifier, sub in stratum.groupby("classifier", sort=True):
            arm_a = sub[sub[check.between] == check.numerator]
            arm_b = sub[sub[check.between] == check.denominator]
            if arm_a.empty or arm_b.empty:
                continue
            result, design = _compare_arms(arm_a, arm_b, check.label)
            rr, high = result["rr"], result["rr_high"]
            judged = rr if check.bound == "estimate" else high
            rows.append({**keys, "classifier": classifier, "design": design, **result})
            findings.append(
                Finding(
                    check=check.id,
                    scope={**_scope(check, classifier, keys), "between": check.between},
                    value=_finite(rr),
                    ci=(_finite(result["rr_low"]), _finite(high)),
                    threshold=check.max,
                    passed=bool(judged <= check.max) if judged == judged else True,
                    severity=check.severity,
                    summary=(
                        f"{_where(keys) if keys else 'all'}: {check.label} rate {check.numerator} "
                        f"{result['rate_a']:.3f} vs {check.denominator} {result['rate_b']:.3f}, risk ratio {rr:.3g} "
                        f"(95% CI {result['rr_low']:.3g}-{high:.3g}; {design}, "
                        f"{result['test']} p={result['p_value']:.3g}); "
                        f"limit {check.max:g} on the {check.bound}"
                    ),
                    evidence=tuple(arm_a["record_id"]) + tuple(arm_b["record_id"]),
                )
            )
    if not findings:
        return _skipped(check, f"no images with {check.between} = {check.numerator} and {check.denominator} to compare")
    return CheckResult(findings, pd.DataFrame(rows))


def _compare_arms(arm_a: pd.DataFrame, arm_b: pd.DataFrame, label: str) -> tuple[dict, str]:
    """Paired (McNemar) when every image of both arms has its counterpart with the same pair and seed."""
    if "pair_id" in arm_a.columns and arm_a["pair_id"].notna().all() and arm_b["pair_id"].notna().all():
        merged = arm_a.merge(arm_b, on=["pair_id", "seed"], suffixes=("_a", "_b"))
        if len(merged) == len(arm_a) == len(arm_b):
            return paired_comparison(merged["label_a"] == label, merged["label_b"] == label), "paired by seed"
    x_a, x_b = int((arm_a["label"] == label).sum()), int((arm_b["label"] == label).sum())
    return unpaired_comparison(x_a, len(arm_a), x_b, len(arm_b)), "unpaired"


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _amplification(check: AmplificationCheck, labels: pd.DataFrame, categories) -> CheckResult:
    reference = to_reference(check.reference)
    rows, findings = [], []
    for gc in group_counts(labels, by=check.by, categories=categories):
        if check.label not in gc.labels:
            return _skipped(check, f"{check.label!r} is not a label of {gc.attribute} ({', '.join(gc.labels)})")
        try:
            expected = reference.shares(gc)
        except ValueError as exc:
            return _skipped(check, str(exc))
        ref_share = expected[:, gc.labels.index(check.label)]
        result = amplification_rows(gc, check.label, ref_share)
        rows.append(result)
        slope = result["slope"]
        if slope != slope:
            findings.append(
                Finding(
                    check=check.id,
                    scope=_scope(check, gc.classifier, {}),
                    value=None,
                    ci=None,
                    threshold=check.max,
                    passed=True,
                    severity="info",
                    summary=f"skipped: {result['groups']} group(s) with a reference figure; at least 3 are needed",
                )
            )
            continue
        judged = slope if check.bound == "estimate" else result["slope_low"]
        findings.append(
            Finding(
                check=check.id,
                scope={**_scope(check, gc.classifier, {}), "by": list(check.by), "label": check.label},
                value=slope,
                ci=(result["slope_low"], result["slope_high"]),
                threshold=check.max,
                passed=bool(judged <= check.max),
                severity=check.severity,
                summary=(
                    f"{check.label} share vs {reference.describe()} across {result['groups']} {'/'.join(check.by)} "
                    f"groups: logit slope {slope:.2f} (95% CI {result['slope_low']:.2f}-{result['slope_high']:.2f}), "
                    f"mean shift towards the majority {result['shift']:+.3f}; limit {check.max:g} on the {check.bound}"
                ),
                evidence=tuple(r for records in gc.records for r in records),
            )
        )
    if not findings:
        return _skipped(check, f"every image abstained (unknown) on {check.attribute}")
    return CheckResult(findings, pd.DataFrame(rows))
