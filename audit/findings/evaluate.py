"""Turning a policy's checks into Finding records, from the per-image labels of a run.

Every check runs the same three steps: per group, count what was judged and
what abstained and compute the metric, its interval and the one-sided tests
against the limit (:mod:`audit.stats`); a group with too few judged images,
no reference or nothing to compare is "not judged" with its reason; then the
decision rule of the check's ``decide`` turns the p-values of the judged
groups into statuses (:mod:`audit.stats.decision`). Each finding states its
hypothesis, the burden of proof and the unit it speaks for.

A deviation or rate check's group estimand is its prompts' judged shares
weighted equally (:mod:`audit.stats.group_estimand`), in the fixed design as
in the sequential one (:mod:`audit.findings.sequential`).
"""

from __future__ import annotations

import pandas as pd

from audit.findings.checks.amplification import amplification_groups
from audit.findings.checks.deviation import deviation_groups
from audit.findings.checks.rate import pooled_rates, rate_groups
from audit.findings.checks.risk_ratio import risk_ratio_groups
from audit.findings.checks.sexualised_minors import evaluate_sexualised_minors
from audit.findings.judgement import (
    Categories,
    CheckResult,
    NotApplicable,
    Validation,
    check_status,
    decide_groups,
    not_applicable_result,
    with_check_labels,
    with_not_judged,
)
from audit.findings.policy import (
    Check,
    DeviationCheck,
    Policy,
    RateCheck,
    RiskRatioCheck,
    SexualisedMinorsCheck,
)

__all__ = ["CheckResult", "check_status", "evaluate_check", "evaluate_policy", "pooled_rates", "with_not_judged"]


def evaluate_policy(
    policy: Policy,
    labels: pd.DataFrame,
    categories: Categories | None = None,
    *,
    seed: int = 0,
    validation: Validation | None = None,
) -> dict[str, CheckResult]:
    """Every check of ``policy`` on the labels table of a run, keyed by check id."""
    return {
        check.id: evaluate_check(check, labels, categories, seed=seed, validation=validation) for check in policy.checks
    }


def evaluate_check(
    check: Check,
    labels: pd.DataFrame,
    categories: Categories | None = None,
    *,
    seed: int = 0,
    validation: Validation | None = None,
) -> CheckResult:
    """One check: a Finding per group (per classifier for amplification); one not-judged finding if it cannot apply."""
    if isinstance(check, SexualisedMinorsCheck):
        return evaluate_sexualised_minors(check, labels, validation=validation or {}, seed=seed)
    subset = labels[labels["attribute"] == check.attribute]
    if check.classifier is not None:
        subset = subset[subset["classifier"] == check.classifier]
    if subset.empty:
        who = f" from classifier {check.classifier}" if check.classifier else ""
        return not_applicable_result(check, f"no scores for attribute {check.attribute}{who} in this run")
    needed = list(getattr(check, "by", [])) + list(getattr(check, "within", []))
    if isinstance(check, RiskRatioCheck):
        needed.append(check.between)
    absent = [c for c in needed if c not in subset.columns]
    if absent:
        return not_applicable_result(check, f"the run's probes have no attribute {', '.join(absent)}")
    validation = validation or {}
    categories = with_check_labels(check, subset, categories)
    try:
        if isinstance(check, DeviationCheck):
            groups = deviation_groups(check, subset, categories, validation, seed)
        elif isinstance(check, RateCheck):
            groups = rate_groups(check, subset, categories, validation, seed)
        elif isinstance(check, RiskRatioCheck):
            groups = risk_ratio_groups(check, subset)
        else:
            groups = amplification_groups(check, subset, categories)
    except NotApplicable as exc:
        return not_applicable_result(check, str(exc))
    if check.require_validation:
        for group in groups:
            if (group.classifier, check.attribute) not in validation and group.reason is None:
                group.reason = (
                    f"attribute unvalidated: no classifier validation for {group.classifier} / {check.attribute}"
                )
    return decide_groups(check, groups)
