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
from audit.findings.checks import CHECK_TYPES
from audit.findings.paired_changes import plain_value
from audit.findings.policy import Policy
from audit.stats import benjamini_hochberg
from audit.stats.paired_runs import embedding_distances, label_loss, pair_labels

MITIGATION_PREFIX = "mitigation:"
# Pairs of (prompt, seed) the two runs must share for the comparison to be paired.
PAIRED_SHARE = 0.9


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
            return [{k: plain_value(v) for k, v in row.items()} for row in frame.to_dict("records")]

        return {
            **self.design,
            "changes": rows(self.changes),
            "shares": rows(self.shares),
            "costs": {"embedding_distance": rows(self.embedding), "label_loss": rows(self.loss)},
            "findings": [f.as_dict() for f in self.findings],
        }


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
        shares_of = getattr(CHECK_TYPES.get(check.check), "paired_shares", None)
        if shares_of is not None:
            share_tables.append(shares_of(check, subset))
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
    """The paired changes of one check, group by group (``resamples``: None for each test's default); none for a
    check type that compares no pairs."""
    rows_of = getattr(CHECK_TYPES.get(check.check), "compare_paired", None)
    return [] if rows_of is None else rows_of(check, subset, labels_b, categories, rng, resamples)


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
        value=plain_value(float(row["change"])),
        ci=(plain_value(float(row["change_low"])), plain_value(float(row["change_high"]))),
        threshold=alpha,
        status=status,
        severity=row["severity"],
        summary=(
            f"{where}: {row['measure']} {row['baseline']:.3f} -> {row['mitigated']:.3f} "
            f"(change {row['change']:+.3f}, 95% CI {row['change_low']:+.3f} to {row['change_high']:+.3f}; "
            f"BH-adjusted p={row['p_adjusted']:.3g}; {row['n_pairs']} pairs, "
            f"{row['n_abstained']} left out): {direction}"
        ),
        p_value=plain_value(float(row["p_value"])),
        p_adjusted=plain_value(float(row["p_adjusted"])),
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
