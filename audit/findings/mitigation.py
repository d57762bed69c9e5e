"""Did a mitigation reduce the bias, and what did it cost? Baseline and mitigated runs compared image by image.

Two runs are *paired* when they hold the same (prompt, seed) pairs: every
mitigated image has a baseline twin made from the same noise. For each
policy check the change of its metric is estimated per group on those pairs
(:mod:`audit.stats.paired_runs`) with a paired interval and test, and
Benjamini-Hochberg runs over every group of every check. A group *improved*
when its metric fell significantly, got *worse* when it rose significantly
(a regression: the comparison's finding fails), and otherwise shows *no
significant change*. Groups with fewer judged pairs than the check's
``min_judged`` are not judged.

What the mitigation cost is measured on the same pairs: how far each image
moved (cosine distance of the classifier's image embeddings), and how often
a label the baseline image had was lost — a person (``person_present``:
``yes``) or the occupation's cue (an attribute ``depicted_X`` whose label
should equal the probe's attribute ``X``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from audit.core.records import Finding
from audit.core.run_store import EMBEDDINGS, RunStore
from audit.findings.analysis import merged_categories, policy_for, run_labels
from audit.findings.policy import AmplificationCheck, DeviationCheck, Policy, RateCheck, RiskRatioCheck, to_reference
from audit.stats import METRICS, amplification, benjamini_hochberg, group_counts, slopes
from audit.stats.paired_runs import distance_change, embedding_distances, label_loss, pair_labels, share_changes

MITIGATION_PREFIX = "mitigation:"
# Pairs of (prompt, seed) the two runs must share for the comparison to be paired.
PAIRED_SHARE = 0.9
RESAMPLES = 2000
SLOPE_RESAMPLES = 200


@dataclasses.dataclass
class MitigationComparison:
    """The paired comparison of two runs: changes per check and group, per-label shares, and the costs."""

    design: dict[str, Any]
    changes: pd.DataFrame
    shares: pd.DataFrame
    embedding: pd.DataFrame
    loss: pd.DataFrame
    findings: list[Finding]

    def as_json(self) -> dict[str, Any]:
        def rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]

        return {
            **self.design,
            "changes": rows(self.changes),
            "shares": rows(self.shares),
            "costs": {"embedding_distance": rows(self.embedding), "label_loss": rows(self.loss)},
            "findings": [f.as_dict() for f in self.findings],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def shared_pairs(baseline: RunStore, mitigated: RunStore) -> dict[str, int]:
    """How many finished (item, seed) pairs the runs share, and how many each has alone."""
    done_b = {(r.item_id, r.seed) for r in baseline.generations() if r.ok}
    done_m = {(r.item_id, r.seed) for r in mitigated.generations() if r.ok}
    return {
        "shared": len(done_b & done_m),
        "baseline_only": len(done_b - done_m),
        "mitigated_only": len(done_m - done_b),
    }


def is_paired(counts: dict[str, int]) -> bool:
    """Paired when the shared pairs are at least PAIRED_SHARE of each run's images."""
    shared = counts["shared"]
    return shared > 0 and all(
        shared >= PAIRED_SHARE * (shared + counts[side]) for side in ("baseline_only", "mitigated_only")
    )


def compare_mitigation(
    baseline: RunStore,
    mitigated: RunStore,
    policy: str | Policy | None = None,
    *,
    alpha: float = 0.05,
    seed: int = 0,
) -> MitigationComparison:
    """Every check of ``policy`` (default: the mitigated run's) compared pair by pair between the two runs."""
    chosen = policy_for(mitigated, policy)
    labels_b, categories_b = run_labels(baseline)
    labels_m, categories_m = run_labels(mitigated)
    categories = merged_categories(categories_b, categories_m)
    pairs = pair_labels(labels_b, labels_m)
    rng = np.random.default_rng(seed)
    rows_of: dict[str, list[dict]] = {}
    share_tables = []
    subsets = {}
    for check in chosen.checks:
        subset = pairs[pairs["attribute"] == check.attribute]
        if check.classifier is not None:
            subset = subset[subset["classifier"] == check.classifier]
        if subset.empty:
            continue
        subsets[check.id] = subset
        rows_of[check.id] = _check_rows(check, subset, labels_b, categories, rng, None)
        if isinstance(check, DeviationCheck):
            share_tables.append(share_changes(subset, by=[c for c in check.by if c in subset.columns]))
    # A permutation p-value is at least 1 / (resamples + 1). Where one sits at that floor, the resamples
    # may be what stops it passing BH over all m comparisons (which needs p <= alpha / m at best): such a
    # check is recomputed with enough resamples that its floor is alpha / (2 m).
    m = sum(len(r) for r in rows_of.values())
    needed = math.ceil(2 * m / alpha)
    for check in chosen.checks:
        floored = [
            r
            for r in rows_of.get(check.id, [])
            if r.get("resamples") and r["p_value"] * (r["resamples"] + 1) <= 1.0 + 1e-9
        ]
        if floored and min(r["resamples"] for r in floored) < needed:
            rows_of[check.id] = _check_rows(check, subsets[check.id], labels_b, categories, rng, needed)
    rows = [r for check in chosen.checks for r in rows_of.get(check.id, [])]
    changes = pd.DataFrame(rows)
    findings = []
    if not changes.empty:
        changes["p_adjusted"] = benjamini_hochberg(changes["p_value"].to_numpy(dtype=float))
        changes["direction"] = [_direction(r, alpha) for r in changes.to_dict("records")]
        findings = [_finding(r, alpha) for r in changes.to_dict("records")]
    embedding = pd.DataFrame()
    if (baseline.root / EMBEDDINGS).exists() and (mitigated.root / EMBEDDINGS).exists():
        emb_b, emb_m = baseline.read_table(EMBEDDINGS), mitigated.read_table(EMBEDDINGS)
        keys = pairs.drop_duplicates(["record_b", "record_m"])
        embedding = pd.concat(
            [
                embedding_distances(emb_b, emb_m, keys, by=[]).assign(prompt="all prompts", suite=""),
                embedding_distances(emb_b, emb_m, keys, by=["suite", "prompt"]),
            ],
            ignore_index=True,
        )
    config = mitigated.config or {}
    design = {
        "design": "paired",
        "baseline": str(baseline.root),
        "mitigated": str(mitigated.root),
        "baseline_name": (baseline.config or {}).get("name"),
        "mitigated_name": config.get("name"),
        "mitigation": config.get("mitigation"),
        "policy": chosen.name,
        "alpha": alpha,
        "pairs": shared_pairs(baseline, mitigated),
        "method": (
            "pairs of images with the same prompt and seed; share changes: Tango's paired score interval and "
            "McNemar's exact test; distance and slope changes: percentile bootstrap over pairs (seeds) and a "
            "sign-flip permutation test; Benjamini-Hochberg over every group of every check"
        ),
    }
    return MitigationComparison(
        design=design,
        changes=changes,
        shares=pd.concat(share_tables, ignore_index=True) if share_tables else pd.DataFrame(),
        embedding=embedding,
        loss=_losses(pairs),
        findings=findings,
    )


def _check_rows(check, subset: pd.DataFrame, labels_b, categories, rng, resamples: int | None) -> list[dict]:
    """The paired changes of one check, group by group (``resamples``: None for each test's default)."""
    if isinstance(check, DeviationCheck):
        return _deviation_rows(check, subset, labels_b, categories, rng, resamples or RESAMPLES)
    if isinstance(check, RateCheck):
        by = [c for c in check.by if c in subset.columns]
        return _rate_rows(check, share_changes(subset, by=by, labels=[check.label]))
    if isinstance(check, RiskRatioCheck):
        return _ratio_rows(check, subset, rng, resamples or RESAMPLES)
    if isinstance(check, AmplificationCheck):
        return _slope_rows(check, subset, labels_b, categories, rng, resamples or SLOPE_RESAMPLES)
    return []


def _group_key(row: dict[str, Any], by: list[str]) -> dict[str, Any]:
    return {k: _plain(row[k]) for k in by}


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
            _row(check, key[-1], dict(zip(by, key[:-1], strict=True)), result, len(group) - len(judged), check.metric)
        )
    return rows


def _rate_rows(check: RateCheck, table: pd.DataFrame) -> list[dict]:
    rows = []
    by = [c for c in check.by if c in table.columns]
    for r in table.to_dict("records"):
        result = {
            "n_pairs": r["n_pairs"],
            "baseline": r["share_baseline"],
            "mitigated": r["share_mitigated"],
            "change": r["change"],
            "change_low": r["change_low"],
            "change_high": r["change_high"],
            "p_value": r["p_value"],
        }
        rows.append(_row(check, r["classifier"], _group_key(r, by), result, r["n_abstained"], f"rate of {check.label}"))
    return rows


def _ratio_rows(check: RiskRatioCheck, pairs: pd.DataFrame, rng, resamples: int) -> list[dict]:
    """The change of the risk ratio between the two arms, over units of (pair, seed) found in both runs."""
    if check.between not in pairs.columns or "pair_id" not in pairs.columns:
        return []
    rows = []
    within = [c for c in check.within if c in pairs.columns]
    for key, group in pairs.groupby([*within, "classifier"], sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        judged = group[(group["label_b"] != "unknown") & (group["label_m"] != "unknown")]
        units = {}
        for arm, name in (("a", check.numerator), ("b", check.denominator)):
            side = judged[judged[check.between] == name]
            units[arm] = side.set_index(["pair_id", "seed"])[["label_b", "label_m"]] == check.label
        both = units["a"].join(units["b"], lsuffix="_a", rsuffix="_b", how="inner")
        if both.empty:
            continue
        outcome = both.to_numpy(dtype=float)  # columns: a in baseline, a mitigated, b baseline, b mitigated

        def log_ratio(x: np.ndarray, arm_b: int, arm_m: int) -> np.ndarray:
            # Haldane's 0.5: a zero-event arm keeps a finite ratio, so the change has an interval.
            a = x[..., arm_b].sum(axis=-1) + 0.5
            b = x[..., arm_m].sum(axis=-1) + 0.5
            return np.log(a) - np.log(b)

        n = len(outcome)
        rr_b, rr_m = log_ratio(outcome, 0, 2), log_ratio(outcome, 1, 3)
        draws = outcome[rng.integers(0, n, size=(resamples, n))]
        boot = log_ratio(draws, 1, 3) - log_ratio(draws, 0, 2)
        flips = rng.integers(0, 2, size=(resamples, n, 1)).astype(bool)
        swapped = np.where(flips, outcome[None][..., [1, 0, 3, 2]], outcome[None])
        null = log_ratio(swapped, 1, 3) - log_ratio(swapped, 0, 2)
        change = float(rr_m - rr_b)
        result = {
            "n_pairs": n,
            "baseline": float(np.exp(rr_b)),
            "mitigated": float(np.exp(rr_m)),
            "change": float(np.exp(rr_m) - np.exp(rr_b)),
            "change_low": float(np.exp(rr_b) * (np.exp(np.quantile(boot, 0.025)) - 1)),
            "change_high": float(np.exp(rr_b) * (np.exp(np.quantile(boot, 0.975)) - 1)),
            "p_value": float((1 + np.sum(np.abs(null) >= abs(change) - 1e-12)) / (1 + resamples)),
            "resamples": resamples,
        }
        rows.append(
            _row(
                check, key[-1], dict(zip(within, key[:-1], strict=True)), result, len(group) - len(judged), "risk ratio"
            )
        )
    return rows


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
        templates = first["template"].astype(str).to_numpy() if "template" in first.columns else None

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
            rows.append(_row(check, classifier, {"by": "/".join(check.by)}, result, len(group) - len(judged), "slope"))
            continue
        # All draws at once: the same seeds drawn for both runs (bootstrap), or each image pair's two
        # images swapped at random (permutation); per draw, each prompt's count of the label and its n.
        draws = rng.integers(0, len(seeds), size=(resamples, len(seeds)))
        boot = _draw_slopes(matrix_m[:, draws], ref, templates) - _draw_slopes(matrix_b[:, draws], ref, templates)
        flips = rng.integers(0, 2, size=(resamples, *matrix_b.shape)).astype(bool)
        perm_m, perm_b = np.where(flips, matrix_b, matrix_m), np.where(flips, matrix_m, matrix_b)
        null = _draw_slopes(perm_m.transpose(1, 0, 2), ref, templates) - _draw_slopes(
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
        rows.append(_row(check, classifier, {"by": "/".join(check.by)}, result, len(group) - len(judged), "slope"))
    return rows


def _draw_slopes(stack: np.ndarray, ref: np.ndarray, templates: np.ndarray | None) -> np.ndarray:
    """Slopes of draws of a (prompts × draws × seeds) array of 0/1/NaN: each draw's counts over its seeds."""
    count = np.nansum(stack, axis=2).T
    n = np.sum(~np.isnan(stack), axis=2).T
    return slopes(count, n, ref, templates=templates)


def _row(check, classifier: str, group: dict, result: dict, abstained: int, measure: str) -> dict:
    return {
        "check": check.id,
        "check_type": check.check,
        "severity": check.severity,
        "attribute": check.attribute,
        "classifier": classifier,
        "group": group,
        "measure": measure,
        "min_judged": check.min_judged,
        "n_abstained": int(abstained),
        **result,
    }


def _direction(row: dict, alpha: float) -> str:
    if row["n_pairs"] < row["min_judged"] or row["p_value"] != row["p_value"]:
        return "not judged"
    if row["p_adjusted"] < alpha and row["change"] < 0:
        return "improved"
    if row["p_adjusted"] < alpha and row["change"] > 0:
        return "worse"
    return "no significant change"


def _finding(row: dict, alpha: float) -> Finding:
    where = ", ".join(f"{k}={v}" for k, v in row["group"].items()) or "all"
    direction = row["direction"]
    status = {"not judged": "not_judged", "worse": "fail"}.get(direction, "pass")
    return Finding(
        check=MITIGATION_PREFIX + row["check"],
        scope={"attribute": row["attribute"], "classifier": row["classifier"], **row["group"]},
        value=_plain(float(row["change"])),
        ci=(_plain(float(row["change_low"])), _plain(float(row["change_high"]))),
        threshold=alpha,
        status=status,
        severity=row["severity"],
        summary=(
            f"{where}: {row['measure']} {row['baseline']:.3f} -> {row['mitigated']:.3f} "
            f"(change {row['change']:+.3f}, 95% CI {row['change_low']:+.3f} to {row['change_high']:+.3f}; "
            f"BH-adjusted p={row['p_adjusted']:.3g}; {row['n_pairs']} pairs, "
            f"{row['n_abstained']} left out): {direction}"
        ),
        p_value=_plain(float(row["p_value"])),
        p_adjusted=_plain(float(row["p_adjusted"])),
        n_judged=int(row["n_pairs"]),
        n_abstained=int(row["n_abstained"]),
        unit="pairs of images with the same prompt and seed",
        rule=(
            "change of the metric between the baseline and the mitigated run, pair by pair; worse (a regression) "
            f"when it rose and the BH-adjusted p-value is below {alpha:g}"
        ),
    )


def _losses(pairs: pd.DataFrame) -> pd.DataFrame:
    """Labels the baseline image had and the mitigated one lost: a person, and each occupation's cue."""
    frames = []
    person = pairs[pairs["attribute"] == "person_present"]
    if not person.empty:
        frames.append(label_loss(person, expected="yes").assign(what="person"))
    for attribute in sorted(a for a in pairs["attribute"].unique() if str(a).startswith("depicted_")):
        column = str(attribute).removeprefix("depicted_")
        cue = pairs[pairs["attribute"] == attribute]
        if column in cue.columns:
            loss = label_loss(cue, expected=lambda frame, c=column: frame[c].astype(str))
            frames.append(loss.assign(what=f"{column} cue"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
