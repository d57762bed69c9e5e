"""A check type that lives in one file, as another package would ship it: the share of each group's most common
label is at most ``max`` (a mode collapse check). It registers itself on import; the contract test runs it
unchanged beside the built-in types."""

from __future__ import annotations

import dataclasses

import numpy as np

from audit.core.constants import UNKNOWN
from audit.findings.check_fields import CheckBase
from audit.findings.check_types import register_check
from audit.findings.judgement import CheckResult, GroupResult, evaluate_on_labels, unit_sentence
from audit.findings.report_section import ReportSection, group_section
from audit.findings.run_changes import share_change_rows
from audit.stats import clopper_pearson, p_rate_beyond, p_rate_within


@dataclasses.dataclass(frozen=True)
class MajorityShareCheck(CheckBase):
    """Each group's most common label holds at most ``max`` of its judged images."""

    check: str = "majority_share"
    by: list[str] = dataclasses.field(default_factory=lambda: ["prompt"])
    max: float = 0.8

    def describe_measure(self) -> str:
        return f"share of the most common {self.attribute} label"


def _groups(check: MajorityShareCheck, labels, categories, validation, seed) -> list[GroupResult]:
    groups = []
    for (classifier, *key), rows in labels.groupby(["classifier", *check.by], sort=True):
        keys = dict(zip(check.by, key, strict=True))
        judged = rows[rows["label"] != UNKNOWN]
        g = GroupResult(
            keys=keys,
            classifier=classifier,
            n_judged=len(judged),
            n_abstained=len(rows) - len(judged),
            unit=unit_sentence(check, 1),
            evidence=tuple(rows["record_id"]),
        )
        if len(judged) < check.min_judged:
            groups.append(g.not_judged(f"{len(judged)} judged image(s), fewer than min_judged={check.min_judged}"))
            continue
        top = int(judged["label"].value_counts().iloc[0])
        n = len(judged)
        low, high = clopper_pearson(top, n, 0.95)
        measured = g.measured(
            value=top / n,
            ci=(float(low), float(high)),
            p_beyond=float(p_rate_beyond(top, n, check.max)),
            p_within=float(p_rate_within(top, n, check.max)),
            bound_at=lambda conf, side, top=top, n=n: float(clopper_pearson(top, n, conf, side)),
            describe=f"most common label in {top} of {n} images = {top / n:.3f} (exact binomial test at the limit)",
            row={"top_count": top, "share": float(np.round(top / n, 6))},
        )
        groups.append(measured)
    return groups


@register_check
class MajorityShareType:
    type_name = "majority_share"
    policy_class = MajorityShareCheck
    no_sequential_test = "a test-only check type: its exact binomial test is fixed-sample only"

    @staticmethod
    def evaluate(check, labels, categories=None, *, seed: int = 0, validation=None) -> CheckResult:
        return evaluate_on_labels(check, labels, categories, validation, seed, needed=list(check.by), groups_of=_groups)

    @staticmethod
    def report_section(check, result: CheckResult, labels, categories) -> ReportSection:
        return group_section(
            check,
            result,
            title=f"Share of the most common {check.attribute} label, by {'/'.join(check.by)}",
            text="A group whose images mostly show one label has collapsed onto it.",
            value_title="majority share",
            keys=list(check.by),
            junit=[f"mode collapse limit: {check.max:g} of a group's judged images"],
        )

    @staticmethod
    def compare_unpaired(check, baseline, candidate, categories, rng) -> list[dict]:
        """Worse: a larger share of the most common label (the two-sample test of the label distributions)."""

        def shares(check, gb, i, gc, j, cb, cc, labels):
            return float(cb.max() / cb.sum()), float(cc.max() / cc.sum()), "share of the most common label"

        return share_change_rows(check, baseline, candidate, categories, rng, shares)

    @staticmethod
    def example(beyond: bool) -> dict:
        feminine = 98 if beyond else 55
        counts = {"feminine": feminine, "masculine": 100 - feminine}
        return {
            "entry": {"check": "majority_share", "attribute": "perceived_gender_presentation", "max": 0.8},
            "items": [{"prompt": p, "labels": {"perceived_gender_presentation": counts}} for p in ("a", "b")],
        }

    simulation = (20, 15)

    @staticmethod
    def at_limit(rows, rng) -> np.ndarray:
        """Labels at the limit: the most common label's share exactly max=0.8."""
        return np.where(rng.random(len(rows)) < 0.8, "feminine", "masculine")
