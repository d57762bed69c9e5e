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

from audit.findings.checks import CHECK_TYPES
from audit.findings.checks.rate import pooled_rates
from audit.findings.judgement import (
    Categories,
    CheckResult,
    Validation,
    check_status,
    with_not_judged,
)
from audit.findings.policy import (
    Check,
    Policy,
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
    """One check: a Finding per group (per classifier for amplification); one not-judged finding if it cannot apply.

    The check's type (:data:`audit.findings.checks.CHECK_TYPES`, by the policy's ``check:``) evaluates it."""
    kind = CHECK_TYPES.get(check.check)
    return kind.evaluate(check, labels, categories, seed=seed, validation=validation)
