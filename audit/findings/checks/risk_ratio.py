"""The risk-ratio check: the ratio of a label's rate in two arms (seed-paired or independent), tested at the
limit."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.core.constants import UNKNOWN
from audit.findings.judgement import (
    GroupResult,
    NotApplicable,
    format_number,
    group_scope,
    where_text,
)
from audit.findings.policy import (
    RiskRatioCheck,
)
from audit.stats import (
    cluster_dispersion,
    paired_ratio,
    paired_ratio_bound,
    unpaired_ratio,
    unpaired_ratio_bound,
)
from audit.stats.group_estimand import prompt_weighted_counts


def risk_ratio_groups(check: RiskRatioCheck, labels: pd.DataFrame) -> list[GroupResult]:
    groups: list[GroupResult] = []
    strata = labels.groupby(check.within, sort=True, dropna=False) if check.within else [((), labels)]
    for stratum_key, stratum in strata:
        stratum_key = stratum_key if isinstance(stratum_key, tuple) else (stratum_key,)
        keys = dict(zip(check.within, stratum_key, strict=True))
        for classifier, sub in stratum.groupby("classifier", sort=True):
            arm_a = sub[sub[check.between] == check.numerator]
            arm_b = sub[sub[check.between] == check.denominator]
            if arm_a.empty or arm_b.empty:
                continue
            groups.append(_compare_arms(check, keys, classifier, arm_a, arm_b))
    if not groups:
        raise NotApplicable(f"no images with {check.between} = {check.numerator} and {check.denominator} to compare")
    return groups


def _paired_design(arm_a: pd.DataFrame, arm_b: pd.DataFrame) -> bool:
    """Seed-paired when every image of both arms belongs to a counterfactual pair: decided by design, not by data."""
    return "pair_id" in arm_a.columns and arm_a["pair_id"].notna().all() and arm_b["pair_id"].notna().all()


def _compare_arms(check: RiskRatioCheck, keys: dict, classifier: str, arm_a, arm_b) -> GroupResult:
    evidence = tuple(arm_a["record_id"]) + tuple(arm_b["record_id"])
    scope = {**group_scope(check, classifier, keys), "between": check.between}
    abstained = int((arm_a["label"] == UNKNOWN).sum() + (arm_b["label"] == UNKNOWN).sum())
    g = GroupResult(keys=keys, classifier=classifier, n_judged=0, n_abstained=abstained, evidence=evidence, scope=scope)
    yes = check.label
    if _paired_design(arm_a, arm_b):
        merged = arm_a.merge(arm_b, on=["pair_id", "seed"], how="outer", suffixes=("_a", "_b"))
        complete = merged["label_a"].notna() & merged["label_b"].notna()
        usable = complete & (merged["label_a"] != UNKNOWN) & (merged["label_b"] != UNKNOWN)
        pairs = merged[usable]
        dropped = int(len(merged) - len(pairs))
        g.n_judged = len(pairs)
        g.unit = f"the {len(pairs)} seed-paired pairs" + (f" of {where_text(keys)}" if keys else "")
        g.row = {"design": "paired by seed", "pairs_dropped": dropped}
        if len(pairs) < check.min_judged:
            g.reason = (
                f"{len(pairs)} complete pair(s) ({dropped} dropped: an image abstained or is missing), "
                f"fewer than min_judged={check.min_judged}"
            )
            return g
        a, b = (pairs["label_a"] == yes).to_numpy(), (pairs["label_b"] == yes).to_numpy()
        seeds = pairs["seed"].to_numpy()
        clusters = seeds if len(np.unique(seeds)) < len(seeds) else None
        result = paired_ratio(a, b, check.max, clusters=clusters)
        g.bound_at = lambda conf, side: paired_ratio_bound(a, b, conf, side, clusters=clusters)
        design = f"paired by seed, {len(pairs)} pairs ({dropped} dropped: an image abstained or is missing)"
    else:
        judged_a = arm_a[arm_a["label"] != UNKNOWN]
        judged_b = arm_b[arm_b["label"] != UNKNOWN]
        g.n_judged = len(judged_a) + len(judged_b)
        g.unit = "the two arms" + (f" of {where_text(keys)}" if keys else "") + " (independent images)"
        g.row = {"design": "unpaired"}
        if min(len(judged_a), len(judged_b)) < check.min_judged:
            g.reason = (
                f"{len(judged_a)} and {len(judged_b)} judged images in the two arms, fewer than "
                f"min_judged={check.min_judged} in one"
            )
            return g
        # Each arm's rate with its prompts weighted equally (audit.stats.group_estimand), as the sequential test.
        (x_a, n_a), (x_b, n_b) = (_arm_counts(arm, yes) for arm in (judged_a, judged_b))
        phi = max(
            cluster_dispersion(arm, groups=[], cluster="seed", labels=sorted(arm["label"].unique()))
            for arm in (judged_a, judged_b)
        )
        args = (x_a / phi, n_a / phi, x_b / phi, n_b / phi)
        result = unpaired_ratio(*args, check.max)
        g.bound_at = lambda conf, side: unpaired_ratio_bound(*args, conf, side)
        design = "independent arms" + (f", design effect {phi:.2f} for shared seeds" if phi > 1 else "")
    g.row.update({k: v for k, v in result.items() if not callable(v)})
    if not result["informative"]:
        g.reason = f"no image in either arm is labelled {yes}: a ratio of 0 to 0 says nothing"
        return g
    g.value = float(result["ratio"])
    g.ci = (float(result["low"]), float(result["high"]))
    g.p_beyond, g.p_within = result["p_beyond"], result["p_within"]
    g.describe = (
        f"{yes} rate {check.numerator} {result['rate_a']:.3f} vs {check.denominator} {result['rate_b']:.3f}, "
        f"risk ratio {format_number(g.value)} (95% CI {format_number(g.ci[0])}-{format_number(g.ci[1])}; "
        f"{design}; {result['test']})"
    )
    return g


def _arm_counts(judged: pd.DataFrame, label: str) -> tuple[float, float]:
    """An arm's label count and judged count under the group estimand (its prompts weighted equally)."""
    if "item_id" not in judged.columns or judged["item_id"].nunique() <= 1:
        return float((judged["label"] == label).sum()), float(len(judged))
    yes = (judged["label"] == label).groupby(judged["item_id"]).agg(["sum", "count"]).to_numpy(float)
    counts = prompt_weighted_counts(np.column_stack([yes[:, 0], yes[:, 1] - yes[:, 0]]))
    return float(counts[0]), float(counts.sum())
