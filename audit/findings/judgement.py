"""What every check type shares: a group's result, the decision over a check's groups, the result of a check
that cannot apply, the check's summary for findings.json and the plain sentences (hypothesis, decision rule,
where, formatted numbers) its findings carry."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit.core.records import Finding
from audit.findings.check_fields import Check, ReferenceSpec
from audit.stats import (
    FAIL,
    HARM,
    NOT_JUDGED,
    PASS,
    adjusted_p_values,
    bound_confidence,
    statuses,
)

Categories = Mapping[tuple[str, str], Sequence[str]]
Validation = Mapping[tuple[str, str], dict]


@dataclasses.dataclass
class CheckResult:
    """A check's findings, the tidy table behind them (one row per group) and its summary for findings.json."""

    findings: list[Finding]
    table: pd.DataFrame
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.summary.get("status", NOT_JUDGED)


@dataclasses.dataclass(frozen=True)
class GroupResult:
    """One group's numbers before the decision: what the rule needs and what the finding shows.

    A record, never filled in place: a check builds the group's counts, then either :meth:`not_judged` (with the
    reason) or :meth:`measured` (its value, interval, p-values at the limit and description) gives the finished
    group, and the decision (:func:`decide_groups`) reads finished groups only.
    """

    keys: dict
    classifier: str
    n_judged: int
    n_abstained: int
    value: float | None = None
    ci: tuple[float, float] | None = None
    p_beyond: float = float("nan")
    p_within: float = float("nan")
    bound_at: Callable[[float, str], float] | None = None
    reason: str | None = None  # why it is not judged
    describe: str = ""  # the measured part of the summary
    unit: str = "this prompt"
    evidence: tuple[str, ...] = ()
    row: dict = dataclasses.field(default_factory=dict)
    scope: dict = dataclasses.field(default_factory=dict)

    def not_judged(self, reason: str, **changes: Any) -> GroupResult:
        """This group, not judged for ``reason`` (with any other fields ``changes`` sets)."""
        return dataclasses.replace(self, reason=reason, **changes)

    def measured(
        self,
        *,
        value: float,
        ci: tuple[float, float],
        p_beyond: float,
        p_within: float,
        bound_at: Callable[[float, str], float] | None,
        describe: str,
        **changes: Any,
    ) -> GroupResult:
        """This group with its measurement: the value and 95% interval, the one-sided p-values that it is beyond
        and within the limit, its confidence bound at any level and side, and the sentence that describes it."""
        return dataclasses.replace(
            self,
            value=value,
            ci=ci,
            p_beyond=p_beyond,
            p_within=p_within,
            bound_at=bound_at,
            describe=describe,
            **changes,
        )


class NotApplicable(Exception):
    """The run lacks what the check needs (a label, a reference figure, the compared arms)."""


def with_check_labels(check: Check, labels: pd.DataFrame, categories: Categories | None) -> dict:
    """The label sets, with the labels the check names added.

    Classifiers that report only their decision write no row for a label no
    image received; a rate of 'yes' with no 'yes' anywhere is 0, not unknown.
    """
    named = set()
    if getattr(check, "label", None) is not None:  # the checks of one label (a rate, a ratio, a slope)
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


# --- the decision -------------------------------------------------------------------------------------


def decide_groups(check: Check, groups: list[GroupResult]) -> CheckResult:
    """Apply the check's rule across its groups and build the findings and the check's summary."""
    groups = [
        g.not_judged("no test was possible on these images")
        if g.reason is None and not np.isfinite(_p_of(check, g))
        else g
        for g in groups
    ]
    judged = [g for g in groups if g.reason is None]
    p = np.array([_p_of(check, g) if g.reason is None else np.nan for g in groups], dtype=float)
    adjusted = adjusted_p_values(p, check.decide)
    status = statuses(adjusted, check.decide, check.alpha)
    m = len(judged)
    confidence = bound_confidence(check.decide, check.alpha, m)
    side = "lower" if check.decide == HARM else "upper"
    findings, rows = [], []
    for g, p_value, p_adj, st in zip(groups, p, adjusted, status, strict=True):
        bound = g.bound_at(confidence, side) if st != NOT_JUDGED and g.bound_at else None
        rule = decision_rule(check, g.unit, m)
        if st == NOT_JUDGED:
            summary = f"{where_text(g.keys)}: not judged: {g.reason}"
        else:
            test = "BH-adjusted" if check.decide == HARM else "Bonferroni-adjusted"
            summary = (
                f"{where_text(g.keys)}: {g.describe}; {test} p={p_adj:.3g}; "
                f"{'lower' if side == 'lower' else 'upper'} {confidence:.1%} bound {format_number(bound)} vs limit "
                f"{check.max:g}: {st.replace('_', ' ')}"
            )
        findings.append(
            Finding(
                check=check.id,
                scope=g.scope or group_scope(check, g.classifier, g.keys),
                value=g.value,
                ci=g.ci,
                threshold=check.max,
                status=st,
                severity=check.severity,
                summary=summary,
                evidence=g.evidence,
                decide=check.decide,
                rule=rule,
                unit=g.unit,
                n_judged=int(g.n_judged),
                n_abstained=int(g.n_abstained),
                p_value=finite_or_none(p_value),
                p_adjusted=finite_or_none(p_adj),
                bound=finite_or_none(bound),
            )
        )
        rows.append(
            {
                **g.keys,
                "classifier": g.classifier,
                **g.row,
                "n_judged": int(g.n_judged),
                "n_abstained": int(g.n_abstained),
                "value": g.value,
                "ci_low": g.ci[0] if g.ci else None,
                "ci_high": g.ci[1] if g.ci else None,
                "p_value": p_value,
                "p_adjusted": p_adj,
                "bound": bound,
                "status": st,
                "reason": g.reason,
            }
        )
    table = pd.DataFrame(rows)
    summary = check_summary(check, findings, applicable=True)
    return CheckResult(findings, table, summary)


def _p_of(check: Check, g: GroupResult) -> float:
    return g.p_beyond if check.decide == HARM else g.p_within


def check_status(check: Check, findings: Sequence[Finding]) -> str:
    """A check fails when a group failed; it is not judged when most of its groups (or, for evidence of safety,
    any group) were not judged; otherwise it passes."""
    counts = {s: sum(f.status == s for f in findings) for s in (PASS, FAIL, NOT_JUDGED)}
    if counts[FAIL]:
        return FAIL
    if not findings or counts[NOT_JUDGED] * 2 > len(findings):
        return NOT_JUDGED
    if check.decide != HARM and counts[NOT_JUDGED]:
        return NOT_JUDGED
    return PASS if counts[PASS] else NOT_JUDGED


def check_summary(check: Check, findings: Sequence[Finding], *, applicable: bool, reason: str = "") -> dict:
    return {
        "id": check.id,
        "check": check.check,
        "attribute": check.attribute,
        "decide": check.decide,
        "hypothesis": hypothesis_sentence(check),
        "rule": decision_rule(check, "", sum(f.status != NOT_JUDGED for f in findings)),
        "alpha": check.alpha,
        "limit": check.max,
        "severity": check.severity,
        "min_judged": check.min_judged,
        "status": check_status(check, findings) if applicable else NOT_JUDGED,
        "applicable": applicable,
        "reason": reason,
        "groups": {
            "passed": sum(f.status == PASS for f in findings),
            "failed": sum(f.status == FAIL for f in findings),
            "not_judged": sum(f.status == NOT_JUDGED for f in findings),
        },
    }


def _unjudged_finding(check: Check, scope: dict[str, Any], summary: str) -> Finding:
    """A not-judged finding of ``check`` over ``scope`` (no value, no interval), saying why in ``summary``."""
    return Finding(
        check=check.id,
        scope=scope,
        value=None,
        ci=None,
        threshold=check.max,
        status=NOT_JUDGED,
        severity=check.severity,
        summary=summary,
        decide=check.decide,
        rule=decision_rule(check, "", 0),
        unit="",
    )


def not_applicable_result(check: Check, why: str) -> CheckResult:
    finding = _unjudged_finding(check, {"attribute": check.attribute}, f"not applicable: {why}")
    return CheckResult([finding], pd.DataFrame(), check_summary(check, [finding], applicable=False, reason=why))


def with_not_judged(check: Check, result: CheckResult, reasons: Sequence[tuple[str, str]]) -> CheckResult:
    """``result`` with a not-judged finding added per (classifier, reason): classifiers whose attribute is
    recorded but may not be judged (out of the classifier's domain). A result that could not apply at all
    (every classifier of the attribute was left out) becomes those findings alone."""
    extra = [
        _unjudged_finding(
            check,
            {"attribute": check.attribute, "classifier": classifier},
            f"classifier={classifier}: not judged: {reason}",
        )
        for classifier, reason in reasons
    ]
    applicable = result.summary.get("applicable", True)
    # A finding of such a classifier judged elsewhere (a sequential run's own stop rule) gives way to these.
    outside = {classifier for classifier, _ in reasons}
    kept = [f for f in result.findings if f.scope.get("classifier") not in outside] if applicable else []
    findings = [*kept, *extra]
    summary = {**result.summary, **check_summary(check, findings, applicable=True)}
    return CheckResult(findings, result.table, summary)


# --- plain sentences ----------------------------------------------------------------------------------


def measure_sentence(check: Check) -> str:
    """What the check measures, in words (the check's own ``describe_measure``)."""
    return check.describe_measure()


def hypothesis_sentence(check: Check) -> str:
    if check.decide == HARM:
        return (
            f"H0: the {measure_sentence(check)} is at most {check.max:g} in each group; H1: it exceeds {check.max:g}."
        )
    return f"H0: the {measure_sentence(check)} is at least {check.max:g} in each group; H1: it is below {check.max:g}."


def decision_rule(check: Check, unit: str, groups: int) -> str:
    who = unit or "each group"
    if check.decide == HARM:
        return (
            f"Evidence of harm: {who} fails only if the data show the {measure_sentence(check)} exceeds {check.max:g} "
            f"(one-sided test at the limit, Benjamini-Hochberg over the {groups} judged group(s)); "
            f"alpha={check.alpha:g} bounds the chance that a model within the limit in every group fails this check "
            "and the expected share of wrongly failed groups among those that fail."
        )
    return (
        f"Evidence of safety: {who} passes only if the data show the {measure_sentence(check)} is below {check.max:g} "
        f"(upper confidence bound simultaneous over the {groups} judged group(s)); alpha={check.alpha:g} bounds "
        "the chance that any group beyond the limit passes."
    )


def group_scope(check: Check, classifier: str, keys: Mapping) -> dict:
    scope = {"attribute": check.attribute, "classifier": classifier}
    scope.update({k: plain_value(v) for k, v in keys.items()})
    return scope


def plain_value(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def where_text(keys: Mapping) -> str:
    return ", ".join(f"{k}={plain_value(v)}" for k, v in keys.items()) or "all images"


def format_number(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if np.isinf(value):
        return "inf"
    return f"{value:.3g}"


def finite_or_none(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if np.isnan(value) else value


def unit_sentence(check: Check, prompts: int) -> str:
    by = list(getattr(check, "by", []))
    if prompts <= 1 or by in (["prompt"], ["item_id"]):
        return "this prompt"
    return f"this {'/'.join(by)} across its {prompts} prompts"


def prompts_per_group(labels: pd.DataFrame, by: Sequence[str]) -> dict[tuple, int]:
    if not by:
        return {(): int(labels["item_id"].nunique())}
    counts = labels.groupby(list(by), sort=True, dropna=False)["item_id"].nunique()
    return {(k if isinstance(k, tuple) else (k,)): int(v) for k, v in counts.items()}


def evaluate_on_labels(
    check: Check,
    labels: pd.DataFrame,
    categories: Categories | None,
    validation: Validation | None,
    seed: int,
    *,
    needed: Sequence[str],
    groups_of: Callable[..., list[GroupResult]],
) -> CheckResult:
    """A check of one attribute's labels: its rows (of its classifier), one not-applicable finding where the run
    lacks them or the probe attributes ``needed``, else ``groups_of(check, rows, categories, validation, seed)``
    decided by the check's rule (a group of an unvalidated attribute is not judged where the check requires a
    validation)."""
    subset = labels[labels["attribute"] == check.attribute]
    if check.classifier is not None:
        subset = subset[subset["classifier"] == check.classifier]
    if subset.empty:
        who = f" from classifier {check.classifier}" if check.classifier else ""
        return not_applicable_result(check, f"no scores for attribute {check.attribute}{who} in this run")
    absent = [c for c in needed if c not in subset.columns]
    if absent:
        return not_applicable_result(check, f"the run's probes have no attribute {', '.join(absent)}")
    validation = validation or {}
    categories = with_check_labels(check, subset, categories)
    try:
        groups = groups_of(check, subset, categories, validation, seed)
    except NotApplicable as exc:
        return not_applicable_result(check, str(exc))
    if check.require_validation:
        groups = [
            g.not_judged(f"attribute unvalidated: no classifier validation for {g.classifier} / {check.attribute}")
            if (g.classifier, check.attribute) not in validation and g.reason is None
            else g
            for g in groups
        ]
    return decide_groups(check, groups)
