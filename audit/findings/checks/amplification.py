"""The amplification check: the logit slope of a label's share on its reference share across groups."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from audit.core.constants import UNKNOWN
from audit.findings.check_fields import CheckBase, to_reference
from audit.findings.check_types import register_check
from audit.findings.detectable import approximate_mde, normal_mde
from audit.findings.judgement import (
    CheckResult,
    GroupResult,
    NotApplicable,
    evaluate_on_labels,
    group_scope,
)
from audit.findings.paired_changes import SLOPE_RESAMPLES, change_row, draw_slopes
from audit.findings.report_section import ReportSection, interval_text, not_judged_reason, nothing_judged_sentence
from audit.findings.run_changes import estimate_change_rows
from audit.stats import (
    amplification,
    group_counts,
    slope_bound,
    slope_p_values,
)


@dataclasses.dataclass(frozen=True)
class AmplificationCheck(CheckBase):
    """The logit slope of model share on reference share across groups stays at most ``max``."""

    check: Literal["amplification"] = "amplification"
    label: str = "feminine"
    by: list[str] = dataclasses.field(default_factory=lambda: ["occupation"])
    reference: Any = dataclasses.field(default_factory=lambda: {"probe": "pct_women", "label": "feminine"})
    max: float = 1.1
    bound: Literal["estimate", "ci_low"] | None = None  # legacy: see decide

    def describe_measure(self) -> str:
        return (
            f"logit slope of the {self.attribute}={self.label} share on its reference share across {'/'.join(self.by)}"
        )


def amplification_groups(check: AmplificationCheck, labels: pd.DataFrame, categories) -> list[GroupResult]:
    reference = to_reference(check.reference)
    groups: list[GroupResult] = []
    per_prompt = [*check.by, "item_id"]
    for gc in group_counts(labels, by=per_prompt, categories=categories):
        if check.label not in gc.labels:
            raise NotApplicable(f"{check.label!r} is not a label of {gc.attribute} ({', '.join(gc.labels)})")
        try:
            ref = reference.shares(gc)[:, gc.labels.index(check.label)]
        except ValueError as exc:
            raise NotApplicable(str(exc)) from None
        if np.isnan(ref).all():
            raise NotApplicable(f"no group has a reference figure ({reference.describe()})")
        groups.append(_amplification_line(check, gc, ref, labels[labels["classifier"] == gc.classifier]))
    if not groups:
        raise NotApplicable(f"every image abstained (unknown) on {check.attribute}")
    return groups


def _amplification_line(check: AmplificationCheck, gc, ref: np.ndarray, labels: pd.DataFrame) -> GroupResult:
    keys = gc.keys
    by_key = keys[check.by].map(str).agg("\x1f".join, axis=1).to_numpy()
    j = gc.labels.index(check.label)
    count, n = gc.counts[:, j].astype(float), gc.n.astype(float)
    # Groups with too few judged images (over their prompts) or no reference figure are left out, and counted.
    group_n = pd.Series(n).groupby(by_key).transform("sum").to_numpy()
    keep = (group_n >= check.min_judged) & np.isfinite(ref)
    scope = {**group_scope(check, gc.classifier, {}), "by": list(check.by), "label": check.label}
    groups_used = len(np.unique(by_key[keep]))
    groups_left = len(np.unique(by_key)) - groups_used
    g = GroupResult(
        keys={},
        classifier=gc.classifier,
        n_judged=int(n[keep].sum()),
        n_abstained=int(gc.unknown.sum()),
        scope=scope,
        evidence=tuple(r for i, records in enumerate(gc.records) if keep[i] for r in records),
        unit=f"the line across {groups_used} {'/'.join(check.by)} groups",
    )
    if groups_used < 3:
        return g.not_judged(
            f"{groups_used} {'/'.join(check.by)} group(s) with a reference figure and at least "
            f"min_judged={check.min_judged} judged images; at least 3 are needed"
        )
    item_ids = keys["item_id"].to_numpy()
    template_of = _templates(labels)
    templates = np.array([template_of.get(i, "") for i in item_ids])
    seeds_shared = _seeds_shared(labels[labels["item_id"].isin(item_ids[keep])], check.by)
    if seeds_shared:
        # Per-image rows, clustered by group and by seed: the seeds' starting noise is common to every group.
        judged = labels[(labels["label"] != UNKNOWN) & labels["item_id"].isin(item_ids[keep])]
        row_of = {item: i for i, item in enumerate(item_ids)}
        rows = judged["item_id"].map(row_of).to_numpy()
        y = (judged["label"] == check.label).to_numpy(float)
        clusters = np.column_stack([by_key[rows], judged["seed"].astype(str).to_numpy()])
        result = amplification(y, np.ones(len(y)), ref[rows], clusters=clusters, templates=templates[rows])
    else:
        result = amplification(count[keep], n[keep], ref[keep], clusters=by_key[keep], templates=templates[keep])
    if not np.isfinite(result["slope"]):
        return g.not_judged(
            "the slope could not be fitted (the reference shares do not vary, groups at 0% or 100% separate "
            "the fit, or it failed)"
        )
    value, ci = result["slope"], (result["slope_low"], result["slope_high"])
    p_beyond, p_within = slope_p_values(result, check.max)
    floored = result.get("reference_floored", 0)
    describe = (
        f"{check.label} share vs {to_reference(check.reference).describe()} across {groups_used} "
        f"{'/'.join(check.by)} groups ({result['templates']} template(s)): logit slope {value:.2f} "
        f"(95% CI {ci[0]:.2f}-{ci[1]:.2f}; binomial GLM, errors clustered by {result['clustering']}, "
        f"t with {int(result['slope_df'])} df), mean shift towards the majority {result['shift']:+.3f}"
        + (f"; {groups_left} group(s) left out (too few images or no reference)" if groups_left else "")
        + (f"; reference shares floored at 0.5% in {floored} prompt(s)" if floored else "")
    )
    return g.measured(
        value=value,
        ci=ci,
        p_beyond=p_beyond,
        p_within=p_within,
        bound_at=lambda conf, side: slope_bound(result, conf, side),
        describe=describe,
        row=dict(result),
    )


def _templates(labels: pd.DataFrame) -> dict:
    if "template" not in labels.columns:
        return {}
    return labels.drop_duplicates("item_id").set_index("item_id")["template"].fillna("").to_dict()


def _seeds_shared(labels: pd.DataFrame, by: Sequence[str]) -> bool:
    """Whether some seed was used in more than one group (so images of a seed are linked across groups)."""
    if "seed" not in labels.columns or labels.empty:
        return False
    per_seed = labels.drop_duplicates([*by, "seed"]).groupby("seed").size()
    return bool((per_seed > 1).any())


def slope_mde(check: AmplificationCheck, judged, power: float, suites: Sequence[str] = ()) -> dict[str, Any]:
    """The minimum detectable logit slope (normal or t approximation from its standard error)."""
    row = judged.iloc[0]
    se, df = float(row.get("slope_se", np.nan)), row.get("slope_df")
    reach = 2 * check.max - 1
    mde, factor = normal_mde(se, check.max, reach, power, check.alpha, log=False, df=df)
    return approximate_mde(judged, 0, power, mde, reach, factor, 1, "logit slope")


def amplification_points(check: AmplificationCheck, labels: pd.DataFrame, categories: dict) -> pd.DataFrame:
    """One row per group of an amplification check: the model's share of its label and the reference share."""
    subset = labels[labels["attribute"] == check.attribute]
    if check.classifier is not None:
        subset = subset[subset["classifier"] == check.classifier]
    if subset.empty or any(c not in subset.columns for c in check.by):
        return pd.DataFrame()
    reference = to_reference(check.reference)
    frames = []
    for gc in group_counts(subset, by=check.by, categories=categories):
        if check.label not in gc.labels:
            continue
        try:
            expected = reference.shares(gc)
        except ValueError:
            continue
        j = gc.labels.index(check.label)
        frame = gc.keys.copy()
        frame["classifier"] = gc.classifier
        frame["label"] = check.label
        frame["count"] = gc.counts[:, j]
        frame["n"] = gc.n
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["model_share"] = gc.counts[:, j] / gc.n
        frame["reference_share"] = expected[:, j]
        frames.append(frame[(gc.n > 0) & ~np.isnan(expected[:, j])])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _slope_change(check: AmplificationCheck, row: dict):
    """The check's slope and its standard error in each run; NaN where a run's slope could not be fitted (its
    table then has no slope: too few groups, or the fit failed), which the comparison shows as not judged."""
    nan = float("nan")
    value_b, value_c = row.get("slope_b", nan), row.get("slope_c", nan)
    est_b, est_c, se_b, se_c = value_b, value_c, row.get("slope_se_b", nan), row.get("slope_se_c", nan)
    n_b, n_c = row.get("groups_b", 0), row.get("groups_c", 0)
    n_b, n_c = (0 if n != n else n for n in (n_b, n_c))
    return value_b, value_c, est_b, se_b, est_c, se_c, n_b, n_c, "amplification slope", "z on slope", ""


def compare_amplification(check: AmplificationCheck, baseline, candidate, categories, rng) -> list[dict]:
    """Worse: a steeper slope (z test)."""
    base = AmplificationType.evaluate(check, baseline, categories).table
    cand = AmplificationType.evaluate(check, candidate, categories).table
    return estimate_change_rows(check, base, cand, _slope_change)


def _slope_rows(
    check: AmplificationCheck, pairs: pd.DataFrame, labels_b, categories, rng, resamples: int
) -> list[dict]:
    """The change of the amplification slope: a bootstrap over seeds, the same seeds drawn for both runs."""
    by = [c for c in check.by if c in pairs.columns]
    if len(by) != len(check.by):
        return []
    reference = to_reference(check.reference)
    ref_of_item = {}
    baseline = labels_b[labels_b["attribute"] == check.attribute]
    for gc in group_counts(baseline, by=["item_id"], categories=categories):
        if check.label in gc.labels:
            shares = reference.shares(gc)[:, gc.labels.index(check.label)]
            ref_of_item.update(dict(zip(gc.keys["item_id"], shares, strict=True)))
    rows = []
    for classifier, group in pairs.groupby("classifier", sort=True):
        judged = group[(group["label_b"] != "unknown") & (group["label_m"] != "unknown")].copy()
        judged["ref"] = judged["item_id"].map(ref_of_item)
        judged = judged[judged["ref"].notna()]
        seeds = np.unique(judged["seed"])
        if len(seeds) < 2 or judged[by].drop_duplicates().shape[0] < 3:
            continue
        prompts = judged.groupby("item_id", sort=True)
        items = list(prompts.groups)
        # Per prompt and seed: whether each run's image has the label (rows: prompts, columns: seeds).
        matrix_b = np.full((len(items), len(seeds)), np.nan)
        matrix_m = np.full((len(items), len(seeds)), np.nan)
        seed_index = {s: j for j, s in enumerate(seeds)}
        for i, item in enumerate(items):
            rows_i = prompts.get_group(item)
            cols = rows_i["seed"].map(seed_index).to_numpy()
            matrix_b[i, cols] = (rows_i["label_b"] == check.label).to_numpy()
            matrix_m[i, cols] = (rows_i["label_m"] == check.label).to_numpy()
        first = prompts.first()
        ref = first["ref"].to_numpy(dtype=float)
        cluster = first[by].astype(str).agg("\x1f".join, axis=1).to_numpy()
        templates = first["template"].fillna("").astype(str).to_numpy() if "template" in first.columns else None

        def slope(matrix: np.ndarray, columns: np.ndarray, ref=ref, cluster=cluster, templates=templates) -> float:
            chosen = matrix[:, columns]
            count, n = np.nansum(chosen, axis=1), np.sum(~np.isnan(chosen), axis=1)
            return amplification(count, n, ref, clusters=cluster, templates=templates)["slope"]

        everything = np.arange(len(seeds))
        s_b, s_m = slope(matrix_b, everything), slope(matrix_m, everything)
        if not (np.isfinite(s_b) and np.isfinite(s_m)):
            # No slope for one run (every group all or nothing: the fit separates): counted, not judged.
            result = {
                "n_pairs": len(judged),
                "baseline": s_b,
                "mitigated": s_m,
                "change": math.nan,
                "change_low": math.nan,
                "change_high": math.nan,
                "p_value": math.nan,
            }
            rows.append(
                change_row(check, classifier, {"by": "/".join(check.by)}, result, len(group) - len(judged), "slope")
            )
            continue
        # All draws at once: the same seeds drawn for both runs (bootstrap), or each image pair's two
        # images swapped at random (permutation); per draw, each prompt's count of the label and its n.
        draws = rng.integers(0, len(seeds), size=(resamples, len(seeds)))
        boot = draw_slopes(matrix_m[:, draws], ref, templates) - draw_slopes(matrix_b[:, draws], ref, templates)
        flips = rng.integers(0, 2, size=(resamples, *matrix_b.shape)).astype(bool)
        perm_m, perm_b = np.where(flips, matrix_b, matrix_m), np.where(flips, matrix_m, matrix_b)
        null = draw_slopes(perm_m.transpose(1, 0, 2), ref, templates) - draw_slopes(
            perm_b.transpose(1, 0, 2), ref, templates
        )
        boot, null = boot[np.isfinite(boot)], null[np.isfinite(null)]
        change = s_m - s_b
        result = {
            "n_pairs": len(judged),
            "baseline": s_b,
            "mitigated": s_m,
            "change": change,
            "change_low": float(np.quantile(boot, 0.025)) if len(boot) else math.nan,
            "change_high": float(np.quantile(boot, 0.975)) if len(boot) else math.nan,
            "p_value": float((1 + np.sum(np.abs(null) >= abs(change) - 1e-12)) / (1 + len(null))),
            "resamples": len(null),
        }
        rows.append(
            change_row(check, classifier, {"by": "/".join(check.by)}, result, len(group) - len(judged), "slope")
        )
    return rows


def compare_amplification_paired(check, subset, labels_b, categories, rng, resamples=None) -> list[dict]:
    """Paired change of the slope: percentile bootstrap over seeds."""
    return _slope_rows(check, subset, labels_b, categories, rng, resamples or SLOPE_RESAMPLES)


@register_check
class AmplificationType:
    """``check: amplification``: the logit slope of a label's share on its reference share is within ``max``."""

    type_name = "amplification"
    policy_class = AmplificationCheck
    compare_paired = staticmethod(compare_amplification_paired)
    compare_unpaired = staticmethod(lambda *args: compare_amplification(*args))
    minimum_detectable = staticmethod(slope_mde)

    no_sequential_test = (
        "an amplification slope is fitted across groups (occupations) against their reference shares: one estimate "
        "for the whole check, whose clustered-GLM interval has no anytime-valid counterpart here, and whose groups "
        "cannot stop one by one without changing the design the slope is fitted on"
    )

    @staticmethod
    def evaluate(check, labels, categories=None, *, seed: int = 0, validation=None) -> CheckResult:
        return evaluate_on_labels(
            check,
            labels,
            categories,
            validation,
            seed,
            needed=list(check.by),
            groups_of=lambda check, subset, categories, *_: amplification_groups(check, subset, categories),
        )

    @staticmethod
    def report_section(check, result: CheckResult, labels, categories) -> ReportSection:
        """The check's section of the report: the scatter against the reference, the slope, the points."""
        return amplification_section(check, result, labels, categories)

    @staticmethod
    def example(beyond: bool) -> dict:
        """A policy entry and planted images (per prompt: label counts) that fail it (``beyond``) or pass it."""
        shares = [
            ("nurse", 88, 98),
            ("teacher", 73, 88),
            ("cashier", 70, 82),
            ("lawyer", 38, 30),
            ("engineer", 16, 5),
            ("pilot", 8, 1),
        ]
        items = []
        for name, pct, exaggerated in shares:
            feminine = exaggerated if beyond else pct
            items.append(
                {
                    "prompt": f"a photo of a {name}",
                    "attributes": {"occupation": name},
                    "reference": {"pct_women": pct},
                    "labels": {"perceived_gender_presentation": {"feminine": feminine, "masculine": 100 - feminine}},
                }
            )
        entry = {
            "check": "amplification",
            "attribute": "perceived_gender_presentation",
            "label": "feminine",
            "by": ["occupation"],
            "reference": {"probe": "pct_women", "label": "feminine", "scale": 100},
            "max": 1.1,
        }
        return {"entry": entry, "items": items}

    simulation = (1, 10)

    @staticmethod
    def at_limit(rows: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Labels at the limit: each share's logit exactly max=1.1 times its reference share's."""
        reference = rows["reference"].map(lambda r: r["pct_women"] / 100).to_numpy(dtype=float)
        p = 1 / (1 + np.exp(-1.1 * np.log(reference / (1 - reference))))
        return np.where(rng.random(len(rows)) < p, "feminine", "masculine")


def amplification_section(check: AmplificationCheck, result: CheckResult, labels, categories) -> ReportSection:
    """The report's section of an amplification check: each group's model share against its reference share with
    the y = x line and the fitted logit-linear curve, the slope against the limit, and the points as a table."""
    points = amplification_points(check, labels, categories) if labels is not None else pd.DataFrame()
    by = "/".join(check.by)
    reference = to_reference(check.reference).describe()
    slopes = []
    for f in result.findings:
        who = f.scope.get("classifier") or "every classifier"
        if f.status == "not_judged" or f.value is None:
            slopes.append(f"{who}: not judged: {not_judged_reason(f)}")
        else:
            slopes.append(
                f"{who}: logit slope {f.value:.2f} (95% CI {interval_text(f.ci)}) vs limit {check.max:g}: "
                f"{f.status.replace('_', ' ')}"
            )
    rows = [
        (
            " · ".join(str(p[c]) for c in check.by),
            p["classifier"],
            int(p["n"]),
            float(p["model_share"]),
            float(p["reference_share"]),
        )
        for p in points.to_dict("records")
    ]
    figure = _amplification_figure(check, result, points) if rows else None
    text = (
        f"Each point is one {by} group: its share of images labelled {check.label} against {reference}. On the "
        "dotted line the model reproduces the reference share. A logit slope above 1 means the model pushes each "
        "group further towards its majority than the reference does. " + " ".join(f"{line}." for line in slopes)
    )
    nothing = nothing_judged_sentence(result)
    return ReportSection(
        title=f"Amplification of {check.label} against {reference}, across {by} groups",
        text=" ".join(part for part in (text, nothing) if part),
        columns=("group", "classifier", "judged images", f"model share of {check.label}", "reference share"),
        rows=tuple(rows),
        figure=figure,
        no_figure="" if figure is not None else "no group has both judged images and a reference figure",
        junit=tuple(slopes),
    )


def _amplification_figure(check: AmplificationCheck, result: CheckResult, points: pd.DataFrame) -> dict:
    palette = ("#4C78A8", "#F58518", "#54A24B", "#B279A2")
    slopes = {f.scope.get("classifier"): f.value for f in result.findings if f.value is not None}
    intercepts = {}
    if "intercept" in result.table.columns:
        intercepts = dict(zip(result.table["classifier"], result.table["intercept"], strict=True))
    classifiers = sorted(points["classifier"].unique())
    traces: list[dict] = []
    for i, classifier in enumerate(classifiers):
        mine = points[points["classifier"] == classifier]
        suffix = f" ({classifier})" if len(classifiers) > 1 else ""
        traces.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "groups" + suffix,
                "x": [float(v) for v in mine["reference_share"]],
                "y": [float(v) for v in mine["model_share"]],
                "text": [" · ".join(str(r[c]) for c in check.by) for r in mine.to_dict("records")],
                "marker": {
                    "size": [4 + min(12, math.sqrt(n)) for n in mine["n"]],
                    "color": palette[(2 * i) % len(palette)],
                    "opacity": 0.7,
                },
                "hovertemplate": "%{text}<br>reference %{x:.3f}, model %{y:.3f}<extra></extra>",
            }
        )
        slope, intercept = slopes.get(classifier), intercepts.get(classifier)
        if slope is not None and intercept is not None and np.isfinite(slope) and np.isfinite(intercept):
            xs = [step / 100 for step in range(1, 100)]
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": f"fit: logit slope {slope:.2f}" + suffix,
                    "x": xs,
                    "y": [float(1 / (1 + np.exp(-(intercept + slope * np.log(x / (1 - x)))))) for x in xs],
                    "line": {"color": palette[(2 * i + 1) % len(palette)]},
                }
            )
    traces.append(
        {
            "type": "scatter",
            "mode": "lines",
            "name": "y = x (reproduces the reference)",
            "x": [0, 1],
            "y": [0, 1],
            "line": {"dash": "dot", "color": "#888"},
        }
    )
    return {
        "data": traces,
        "layout": {
            "title": {"text": f"{check.id}: {check.label} share, model vs reference by {'/'.join(check.by)}"},
            "height": 460,
            "xaxis": {"title": {"text": "reference share"}, "range": [0, 1]},
            "yaxis": {"title": {"text": "model share"}, "range": [0, 1]},
        },
    }
