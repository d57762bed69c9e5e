"""Shared by the checks on label shares (deviation, rate, sexualised minors): per-prompt counts (the group
estimand weights a group's prompts equally), the design effect of shared seeds, the reasons a group is not judged,
and the judgement of a group on shares corrected for classifier error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit.core.constants import UNKNOWN
from audit.findings.check_fields import Check
from audit.findings.judgement import (
    GroupResult,
    NotApplicable,
)
from audit.findings.report_section import ReportSection, group_section
from audit.stats import (
    cluster_dispersion,
)
from audit.stats.correction import (
    check_conditioning,
    corrected_draws,
    corrected_limit_tests,
    split_confusion,
)

CORRECTED_NO_SEQUENTIAL_TEST = (
    "shares corrected for classifier error divide by a confusion matrix measured once on labelled images; "
    "its error is fixed, not averaged away by more seeds, so no e-process over seeds can bound it"
)
"""Why shares corrected for classifier error have no sequential test."""


def seed_dispersion(check: Check, labels: pd.DataFrame, labels_of_attribute: Sequence[str]) -> float:
    """The design effect of images that share seeds within the check's pooled groups (1 when none do)."""
    judged = labels[labels["label"] != UNKNOWN]
    return cluster_dispersion(judged, groups=list(check.by), cluster="seed", labels=labels_of_attribute)


def too_few_sentence(n: int, unknown: int, needed: int) -> str:
    return f"{n} judged image(s) ({unknown} abstained), fewer than min_judged={needed}"


def per_prompt_counts(check: Check, labels: pd.DataFrame, gc) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """Each group's judged counts (J, K) and abstentions (J,) per prompt: the group estimand weights its prompts
    equally (:mod:`audit.stats.group_estimand`)."""
    if "item_id" not in labels.columns:
        return {}
    rows = labels[labels["attribute"] == gc.attribute]
    by = list(check.by)
    table = rows.groupby([*by, "item_id"], sort=True, dropna=False)["label"].value_counts().unstack(fill_value=0)
    unknown = table[UNKNOWN] if UNKNOWN in table.columns else pd.Series(0, index=table.index)
    counts = table.reindex(columns=gc.labels, fill_value=0)
    out = {}
    for key, sub in counts.groupby(level=list(range(len(by))), sort=True, dropna=False) if by else [((), counts)]:
        key = key if isinstance(key, tuple) else (key,)
        out[key] = (sub.to_numpy(dtype=float), unknown.loc[sub.index].to_numpy(dtype=float))
    return out


def prompt_without_judged_sentence(counts: np.ndarray) -> str:
    empty = int((counts.sum(axis=1) == 0).sum())
    return (
        f"{empty} of its {len(counts)} prompts have no judged image (every image abstained): the group's share weights "
        "its prompts equally, so it has no estimate"
    )


def judge_corrected(check, g: GroupResult, gc, i: int, summary, rng, samples: int, *, q_gc=None) -> GroupResult:
    """Judge the group on shares corrected for classifier error: its TV from ``q_gc`` (deviation checks) or the
    share of ``check.label`` (rate checks), with percentile-bootstrap p-values and bounds.

    Not judged, with the reason, where the correction cannot speak: the matrix over the labels the
    classifier decides is near-singular or lacks a label (abstention is a rate per true label, not a column
    that could make it look well-conditioned), or a corrected share's 95% interval is wider than the check's
    ``max_corrected_width``."""
    if summary is None:
        return g.not_judged(f"attribute unvalidated: no classifier validation for {gc.classifier} / {gc.attribute}")
    try:
        split = split_confusion(summary)
        condition = check_conditioning(split.decided, what="the matrix over the labels the classifier decides")
    except ValueError as exc:
        return g.not_judged(f"correction refused: {exc}")
    true_labels = split.labels
    strange = [lab for lab in gc.labels if lab not in true_labels and gc.counts[i, gc.labels.index(lab)] > 0]
    if strange:
        return g.not_judged(
            f"correction refused: images decided {', '.join(strange)}, a label no validation image is "
            f"(it has {', '.join(true_labels)})"
        )
    observed = np.array(
        [gc.counts[i, gc.labels.index(t)] if t in gc.labels else 0 for t in true_labels], dtype=np.int64
    )
    label = None
    if q_gc is None:
        if check.label not in true_labels:
            raise NotApplicable(f"the classifier validation of {gc.attribute} has no true label {check.label!r}")
        label = true_labels.index(check.label)
    used = int(observed.sum())
    if used < check.min_judged:
        return g.not_judged(too_few_sentence(int(gc.n[i]), int(gc.unknown[i]), check.min_judged))
    # The reference over the validation's true labels (a label the run never saw has reference 0 there).
    q = None if q_gc is None else np.array([q_gc[gc.labels.index(t)] if t in gc.labels else 0.0 for t in true_labels])
    estimate, draws = corrected_draws(observed, split.decided, abstained=split.abstained, samples=samples, rng=rng)
    low, high = np.quantile(draws, [0.025, 0.975], axis=0)
    widths = high - low
    widest = int(np.argmax(widths))
    row = {"corrected": True, "condition": condition, "widest_corrected_interval": float(widths[widest])}
    if widths[widest] > check.max_corrected_width:
        why = (
            f"corrected shares too uncertain: {true_labels[widest]} {estimate[widest]:.3f} (95% CI "
            f"{low[widest]:.3f}-{high[widest]:.3f}, width {widths[widest]:.2f} > max_corrected_width "
            f"{check.max_corrected_width:g}; condition number {condition:.2g} on {int(split.decided.sum())} decided "
            "validation images): label more images"
        )
        return g.not_judged(why, row=row)
    tests = corrected_limit_tests(estimate, draws, q, check.max, label=label)
    bounds = tests["bounds"]
    value, ci = tests["value"], tests["interval"]
    what = "tv of the shares" if label is None else f"{check.label} share"
    describe = (
        f"{what} corrected for classifier error {value:.3f} (95% CI {ci[0]:.3f}-{ci[1]:.3f}, percentile "
        f"bootstrap of {samples} draws, confusion matrix and abstention rates resampled, condition number "
        f"{condition:.2g}; n={used} decided, {int(gc.unknown[i])} unknown)"
    )
    return g.measured(
        value=value,
        ci=ci,
        p_beyond=tests["p_beyond"],
        p_within=tests["p_within"],
        bound_at=lambda conf, side: bounds(conf)[0 if side == "lower" else 1],
        describe=describe,
        n_judged=used + int(gc.unknown[i]),
        row={**row, **({"metric": "tv"} if label is None else {"label": check.label})},
    )


CORRECTED_SENTENCE = (
    "Corrected for classifier error: each group's shares are the true labels' shares implied by the classifier's "
    "confusion matrix measured on labelled images (abstention corrected as a rate per true label), with 95% "
    "percentile-bootstrap intervals that resample the validation too; a group whose correction is ill-conditioned "
    "or too uncertain is not judged."
)


def share_section(
    check: Check, result, *, title: str, text: str, value_title: str, junit=(), ranked=None
) -> ReportSection:
    """The report section of a check on label shares (deviation, rate, sexualised minors), one row and point per
    group; a check corrected for classifier error says so in its text and its JUnit lines."""
    corrected = bool(getattr(check, "correct_for_classifier_error", False))
    return group_section(
        check,
        result,
        title=title + (" (corrected for classifier error)" if corrected else ""),
        text=text + (" " + CORRECTED_SENTENCE if corrected else ""),
        value_title=value_title,
        keys=list(check.by),
        junit=[
            *(
                ["shares corrected for classifier error (confusion matrix of the classifier's validation)"]
                if corrected
                else []
            ),
            *junit,
        ],
        ranked=ranked,
    )
