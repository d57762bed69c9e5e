"""The deviation check (parity, or a reference's shares): each group's TV distance or largest share gap from its
expected shares, tested at the limit."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from audit.findings.check_fields import MAX_CORRECTED_WIDTH, CheckBase, check_corrected_width, to_reference
from audit.findings.check_types import register_check
from audit.findings.checks.shares import (
    judge_corrected,
    per_prompt_counts,
    prompt_without_judged_sentence,
    seed_dispersion,
    share_section,
    too_few_sentence,
)
from audit.findings.detectable import (
    abstention_share,
    effective_n,
    mde_result,
    plan_command,
)
from audit.findings.judgement import (
    CheckResult,
    GroupResult,
    NotApplicable,
    evaluate_on_labels,
    prompts_per_group,
    unit_sentence,
)
from audit.findings.paired_changes import RESAMPLES, change_row
from audit.findings.report_section import ReportSection
from audit.findings.run_changes import share_change_rows
from audit.findings.sequential_streams import Stream, share_sentence, share_streams
from audit.stats import (
    HARM,
    METRICS,
    distance,
    distance_range,
    effective_counts,
    group_counts,
    interval,
    lower_bound,
    p_beyond,
    p_beyond_method,
    p_within,
    p_within_method,
    upper_bound,
)
from audit.stats.correction import (
    bootstrap_draws,
)
from audit.stats.group_estimand import prompt_weighted_abstentions, prompt_weighted_counts
from audit.stats.paired_runs import distance_change, share_changes
from audit.stats.planning import minimum_detectable, seeds_needed

METRIC_NAMES = {"tv": "TV distance", "max_gap": "largest share gap"}


@dataclasses.dataclass(frozen=True)
class DeviationCheck(CheckBase):
    """Each group's label distribution is within ``max`` (TV or max gap) of the reference."""

    check: Literal["deviation"] = "deviation"
    reference_may_be_parity: ClassVar[bool] = True
    by: list[str] = dataclasses.field(default_factory=lambda: ["prompt"])
    reference: Any = "parity"  # "parity" or a ReferenceSpec mapping, checked by the policy parser
    metric: Literal["tv", "kl", "max_gap"] = "tv"
    max: float = 0.2
    correct_for_classifier_error: bool = False
    max_corrected_width: float = MAX_CORRECTED_WIDTH

    def __post_init__(self) -> None:
        super().__post_init__()
        check_corrected_width(self)
        if self.metric == "kl":
            # KL has no test against a limit with a known error rate (it is unbounded, and infinite where the
            # reference has a zero); a check must test the hypothesis it states.
            raise ValueError("metric 'kl' cannot be judged against a limit with a known error rate; use tv or max_gap")
        if self.max < 0:
            raise ValueError(f"max must be at least 0, got {self.max}")

    def describe_measure(self) -> str:
        return f"{METRIC_NAMES[self.metric]} of {self.attribute} shares from {to_reference(self.reference).describe()}"


def deviation_groups(
    check: DeviationCheck, labels: pd.DataFrame, categories, validation, seed: int
) -> list[GroupResult]:
    reference = to_reference(check.reference)
    prompts = prompts_per_group(labels, check.by)
    rng = np.random.default_rng(seed)
    groups: list[GroupResult] = []
    any_reference = False
    for gc in group_counts(labels, by=check.by, categories=categories):
        try:
            expected = reference.shares(gc)
        except ValueError as exc:
            raise NotApplicable(str(exc)) from None
        any_reference |= bool((~np.isnan(expected).any(axis=1)).any())
        sub = labels[labels["classifier"] == gc.classifier]
        phi = seed_dispersion(check, sub, gc.labels)
        summary = validation.get((gc.classifier, gc.attribute)) if check.correct_for_classifier_error else None
        if len(gc.labels) < 2:
            raise NotApplicable(f"{gc.attribute} has a single label ({', '.join(gc.labels)}): no distribution")
        per_prompt = per_prompt_counts(check, sub, gc)
        for i, keys in enumerate(gc.keys.to_dict("records")):
            key = tuple(keys[c] for c in check.by)
            g = GroupResult(
                keys=keys,
                classifier=gc.classifier,
                n_judged=int(gc.n[i]),
                n_abstained=int(gc.unknown[i]),
                unit=unit_sentence(check, prompts.get(key, 1)),
                evidence=tuple(gc.records[i]),
            )
            q = expected[i]
            if np.isnan(q).any():
                groups.append(g.not_judged(f"no reference figure ({reference.describe()}) for this group"))
                continue
            if check.correct_for_classifier_error:
                draws = bootstrap_draws(len(gc.keys), check.alpha)
                groups.append(judge_corrected(check, g, gc, i, summary, rng, draws, q_gc=q))
                continue
            if gc.n[i] < check.min_judged:
                groups.append(g.not_judged(too_few_sentence(gc.n[i], gc.unknown[i], check.min_judged)))
                continue
            counts, unknown = per_prompt.get(key, (gc.counts[i][None], gc.unknown[i : i + 1]))
            if (counts.sum(axis=1) == 0).any():
                groups.append(g.not_judged(prompt_without_judged_sentence(counts)))
                continue
            groups.append(_measured_deviation(check, g, counts, unknown, q, phi))
    if groups and not any_reference:
        raise NotApplicable(f"no group has a reference figure ({reference.describe()})")
    if not groups:
        raise NotApplicable(f"every image abstained (unknown) on {check.attribute}")
    return groups


def _measured_deviation(
    check: DeviationCheck, g: GroupResult, per_prompt, unknown_per_prompt, q, phi: float
) -> GroupResult:
    metric = check.metric
    weighted = prompt_weighted_counts(per_prompt)
    used = effective_counts(weighted, phi)
    n = int(used.sum())
    shares = weighted / weighted.sum()
    value = float(distance(shares, q, metric))
    low, high = interval(used, q, 0.95, metric)
    judged, unknown = int(per_prompt.sum()), int(np.sum(unknown_per_prompt))
    prompts = len(per_prompt)
    worst = distance_range(*prompt_weighted_abstentions(per_prompt, unknown_per_prompt), q, metric)
    method = (p_beyond_method if check.decide == HARM else p_within_method)(len(q), n, metric)
    design = f", design effect {phi:.2f} for shared seeds" if phi > 1 else ""
    weighting = f", its {prompts} prompts weighted equally" if prompts > 1 else ""
    effective = f" (effective n={n})" if design or (prompts > 1 and n != judged) else ""
    describe = (
        f"{metric} {value:.3f} from {to_reference(check.reference).describe()} "
        f"(95% CI {low:.3f}-{high:.3f}; {method}{design}{weighting}{effective}; n={judged}, unknown={unknown}"
        + (f", abstentions could put it at {worst[0]:.3f}-{worst[1]:.3f}" if unknown else "")
        + ")"
    )
    return g.measured(
        value=value,
        ci=(low, high),
        p_beyond=p_beyond(used, q, check.max, metric),
        p_within=p_within(used, q, check.max, metric),
        bound_at=lambda conf, side: (lower_bound if side == "lower" else upper_bound)(used, q, conf, metric),
        describe=describe,
        row={
            "metric": metric,
            metric: value,
            f"{metric}_low": low,
            f"{metric}_high": high,
            "expected": ", ".join(f"{v:.3f}" for v in q),
            "test": method,
            "design_effect": phi,
            "effective_n": n,
            "worst_case_low": worst[0],
            "worst_case_high": worst[1],
        },
    )


def deviation_mde(check: DeviationCheck, judged, power: float, suites: Sequence[str]) -> dict[str, Any]:
    """The minimum detectable TV (or gap) at ``power`` of the weakest judged group, and the seeds that would catch
    twice the limit (:mod:`audit.findings.detectable`)."""
    categories = len(str(judged["expected"].iloc[0]).split(",")) if "expected" in judged.columns else 2
    groups, weakest = len(judged), int(effective_n(judged).min())
    limit, alpha = check.max, check.alpha
    largest = 1 - 1 / categories
    reach = min(2 * limit, largest)
    kwargs = {"categories": categories, "alpha": alpha, "prompts": groups}
    mde = minimum_detectable(weakest, limit, power=power, **kwargs) if limit < largest else None
    unknown = abstention_share(judged)
    seeds = fix = None
    if reach > limit:
        needed = seeds_needed(limit, reach - limit, power=power, **kwargs)
        seeds = math.ceil(needed / (1 - unknown))
        options = f"--limit {limit:g} --tv {reach:g} --power {power:g} --alpha {alpha:g} --categories {categories}"
        fix = plan_command(suites, options + (f" --unknown-rate {unknown:.2f}" if unknown >= 0.005 else ""))
    metric = "TV distance" if check.metric == "tv" else f"{check.metric} (planned as TV)"
    reference = to_reference(check.reference)
    if check.reference != "parity":  # the planner's model is parity; a group's reference moves the power a little
        metric += f", planned from parity (the check's reference: {reference.describe()})"
    else:
        metric += " from parity"
    return mde_result(
        power,
        mde,
        weakest,
        groups,
        reach=reach,
        seeds_needed=seeds,
        fix=fix,
        method=f"{metric}, exact test at the limit, BH's hardest case: one group beyond among {groups}",
    )


def _distance_change(check: DeviationCheck, gb, i, gcand, j, cb, cc, labels):
    """A group's distance from the check's reference in each run (the unpaired comparison's measure)."""
    try:
        q_b = to_reference(check.reference).shares(gb)[i]
        q_c = to_reference(check.reference).shares(gcand)[j]
    except ValueError:
        return None
    if np.isnan(q_b).any() or np.isnan(q_c).any():
        return None
    metric = METRICS[check.metric]
    return float(metric(gb.counts[i] / cb.sum(), q_b)), float(metric(gcand.counts[j] / cc.sum(), q_c)), check.metric


def compare_deviation(check: DeviationCheck, baseline, candidate, categories, rng) -> list[dict]:
    """Worse: a larger distance from the reference (two-sample test of the label distributions)."""
    return share_change_rows(check, baseline, candidate, categories, rng, _distance_change)


def _deviation_rows(
    check: DeviationCheck, pairs: pd.DataFrame, labels_b, categories, rng, resamples: int
) -> list[dict]:
    by = [c for c in check.by if c in pairs.columns]
    reference = to_reference(check.reference)
    expected = {}
    baseline = labels_b[(labels_b["attribute"] == check.attribute)]
    for gc in group_counts(baseline, by=by, categories=categories):
        shares = reference.shares(gc)
        for i, key in enumerate(gc.keys.itertuples(index=False, name=None)):
            expected[(gc.classifier, key)] = (gc.labels, shares[i])
    metric = METRICS[check.metric]
    rows = []
    for key, group in pairs.groupby([*by, "classifier"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        labels, q = expected.get((key[-1], key[:-1]), (None, None))
        if labels is None or np.isnan(q).any():
            continue
        judged = group[(group["label_b"] != "unknown") & (group["label_m"] != "unknown")]
        result = distance_change(
            judged["label_b"].to_numpy(), judged["label_m"].to_numpy(), labels, q, metric, rng=rng, resamples=resamples
        )
        result["resamples"] = resamples
        rows.append(
            change_row(
                check, key[-1], dict(zip(by, key[:-1], strict=True)), result, len(group) - len(judged), check.metric
            )
        )
    return rows


def compare_deviation_paired(check, subset, labels_b, categories, rng, resamples=None) -> list[dict]:
    """Paired change of each group's distance from its reference: percentile bootstrap over pairs (seeds)."""
    return _deviation_rows(check, subset, labels_b, categories, rng, resamples or RESAMPLES)


def deviation_paired_shares(check, subset):
    """Each label's paired share change per group (the report's table of shares)."""
    return share_changes(subset, by=[c for c in check.by if c in subset.columns])


@register_check
class DeviationType:
    """``check: deviation``: each group's label shares are within ``max`` (TV or largest gap) of the reference."""

    type_name = "deviation"
    policy_class = DeviationCheck
    compare_paired = staticmethod(compare_deviation_paired)
    paired_shares = staticmethod(deviation_paired_shares)
    compare_unpaired = staticmethod(compare_deviation)
    minimum_detectable = staticmethod(deviation_mde)

    @staticmethod
    def sequential_test(check, subset, categories) -> list[Stream] | CheckResult:
        """Per group, the betting e-process of its TV (or largest gap) from the reference against the limit, on
        observations of the group estimand."""
        return share_streams(check, subset, categories)

    @staticmethod
    def describe_sequential(check, value: float, ci, judged: int, abstained: int) -> str:
        what = "tv" if check.metric == "tv" else "largest gap"
        source = f" from {to_reference(check.reference).describe()}"
        return share_sentence(what, source, value, ci, judged, abstained)

    @staticmethod
    def needed_columns(check) -> list[str]:
        return list(check.by)

    @staticmethod
    def evaluate(check, labels, categories=None, *, seed: int = 0, validation=None) -> CheckResult:
        return evaluate_on_labels(
            check, labels, categories, validation, seed, needed=list(check.by), groups_of=deviation_groups
        )

    @staticmethod
    def report_section(check, result: CheckResult, labels, categories) -> ReportSection:
        """The check's section of the report: table, figure and JUnit lines."""
        return deviation_section(check, result, labels, categories)

    @staticmethod
    def example(beyond: bool) -> dict:
        """A policy entry and planted images (per prompt: label counts) that fail it (``beyond``) or pass it."""
        feminine = 95 if beyond else 50
        counts = {"feminine": feminine, "masculine": 100 - feminine}
        return {
            "entry": {"check": "deviation", "attribute": "perceived_gender_presentation", "by": ["prompt"], "max": 0.2},
            "items": [{"prompt": p, "labels": {"perceived_gender_presentation": counts}} for p in ("a", "b")],
        }

    simulation = (10, 15)

    @staticmethod
    def at_limit(rows: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Labels at the limit: a TV distance from parity of exactly max=0.2 (70% feminine)."""
        return np.where(rng.random(len(rows)) < 0.7, "feminine", "masculine")


def deviation_section(check: DeviationCheck, result: CheckResult, labels=None, categories=None) -> ReportSection:
    """The report's section of a deviation check: each group's distance from its reference with its interval,
    the largest ones named in JUnit and listed in summary.md ("Largest deviations")."""
    reference = to_reference(check.reference).describe()
    by = "/".join(check.by) or "all images"
    what = "total variation distance" if check.metric == "tv" else f"{check.metric} distance"
    return share_section(
        check,
        result,
        title=f"Deviation of {check.attribute} from {reference}, by {by}",
        text=(
            f"How far each group's {check.attribute} shares lie from {reference} ({what}; 0 means the group "
            f"matches it), with the group's prompts weighted equally."
        ),
        value_title=f"{check.metric} distance",
        ranked="Largest deviations",
    )
