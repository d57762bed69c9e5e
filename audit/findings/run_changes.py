"""How a check's groups changed between two runs of independent images (:mod:`audit.findings.regression`): the
rows each check type's ``compare_unpaired`` builds, for checks on label shares and for checks with one estimate
and standard error per group."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from audit.stats import group_counts, two_sample_test


def keyed(labels: pd.DataFrame, check, categories) -> dict[tuple, tuple]:
    """(classifier, group key) → (GroupCounts, row index) for a check's attribute."""
    subset = labels[labels["attribute"] == check.attribute]
    if check.classifier is not None:
        subset = subset[subset["classifier"] == check.classifier]
    out = {}
    for gc in group_counts(subset, by=check.by, categories=categories):
        for i, keys in enumerate(gc.keys.itertuples(index=False, name=None)):
            out[(gc.classifier, keys)] = (gc, i)
    return out


def share_change_rows(check, baseline: pd.DataFrame, candidate: pd.DataFrame, categories, rng, values) -> list[dict]:
    """A check on label shares (deviation, rate) compared group by group with the two-sample test of the label
    distributions; ``values(check, gb, i, gc, j, cb, cc, labels)`` gives (baseline value, candidate value,
    measure), or None where the group has none."""
    rows = []
    if any(c not in frame.columns for c in check.by for frame in (baseline, candidate)):
        return []
    base = keyed(baseline, check, categories)
    cand = keyed(candidate, check, categories)
    for key in sorted(set(base) & set(cand), key=str):
        (gb, i), (gcand, j) = base[key], cand[key]
        labels = sorted(set(gb.labels) | set(gcand.labels))
        cb = np.array([gb.counts[i, gb.labels.index(lab)] if lab in gb.labels else 0 for lab in labels])
        cc = np.array([gcand.counts[j, gcand.labels.index(lab)] if lab in gcand.labels else 0 for lab in labels])
        if cb.sum() == 0 or cc.sum() == 0:
            continue
        measured = values(check, gb, i, gcand, j, cb, cc, labels)
        if measured is None:
            continue
        value_b, value_c, measure = measured
        p, test = two_sample_test(cb, cc, rng=rng)
        rows.append(
            {
                "check": check.id,
                "severity": check.severity,
                "attribute": check.attribute,
                "classifier": key[0],
                **dict(zip(check.by, key[1], strict=True)),
                "measure": measure,
                "baseline": value_b,
                "candidate": value_c,
                "change": value_c - value_b,
                "n_baseline": int(cb.sum()),
                "n_candidate": int(cc.sum()),
                "test": test,
                "p_value": p,
                "_by": list(check.by),
                "_evidence": tuple(gcand.records[j]),
                "_note": "",
            }
        )
    return rows


def log_ratio(row: dict, suffix: str) -> tuple[float, float]:
    """Log risk ratio and its standard error with half an event added to each arm (finite at 0 events)."""
    x_a, n_a, x_b, n_b = (float(row[f"{k}{suffix}"]) for k in ("x_a", "n_a", "x_b", "n_b"))
    x_a, x_b, n_a, n_b = x_a + 0.5, x_b + 0.5, n_a + 0.5, n_b + 0.5
    return float(np.log((x_a / n_a) / (x_b / n_b))), float(np.sqrt(1 / x_a - 1 / n_a + 1 / x_b - 1 / n_b))


def estimate_change_rows(check, base: pd.DataFrame, cand: pd.DataFrame, estimates) -> list[dict]:
    """A check with one estimate and standard error per group (a risk ratio on the log scale, a slope), compared
    between the runs' check tables with a z test; ``estimates(check, row)`` reads (value_b, value_c, est_b, se_b,
    est_c, se_c, n_b, n_c, measure, test, note) from a merged row, or None where the row has none."""
    if base.empty or cand.empty:
        return []
    keys = ["classifier", *getattr(check, "within", [])]
    # Both tables with every column of either (a run whose estimate could not be made has no estimate columns),
    # so each merged column carries its run's suffix.
    columns = list(dict.fromkeys([*base.columns, *cand.columns]))
    merged = base.reindex(columns=columns).merge(cand.reindex(columns=columns), on=keys, suffixes=("_b", "_c"))
    rows = []
    for row in merged.to_dict("records"):
        measured = estimates(check, row)
        where = {k: row[k] for k in keys[1:]}
        if measured is None:
            rows.append(_not_compared(check, row["classifier"], where, "no estimate in one of the runs"))
            continue
        value_b, value_c, est_b, se_b, est_c, se_c, n_b, n_c, measure, test, note = measured
        se = float(np.hypot(se_b, se_c))
        if not (np.isfinite(est_b) and np.isfinite(est_c) and np.isfinite(se)):
            run = "the baseline" if not np.isfinite(est_b) else "the candidate" if not np.isfinite(est_c) else "a run"
            rows.append(_not_compared(check, row["classifier"], where, f"{measure}: no finite estimate in {run}"))
            continue
        if se > 0:
            p = float(2 * stats.norm.sf(abs(est_c - est_b) / se))
        else:  # both estimates without sampling error: equal or not
            p = 1.0 if est_c == est_b else 0.0
        rows.append(
            {
                "check": check.id,
                "severity": check.severity,
                "attribute": check.attribute,
                "classifier": row["classifier"],
                **where,
                "measure": measure,
                "baseline": float(value_b),
                "candidate": float(value_c),
                "change": float(est_c - est_b),
                "n_baseline": int(n_b),
                "n_candidate": int(n_c),
                "test": test,
                "p_value": p,
                "_by": keys[1:],
                "_evidence": (),
                "_note": note,
            }
        )
    return rows


def _not_compared(check, classifier: str, where: dict, reason: str) -> dict:
    """A group of both runs whose change cannot be tested: a row without a p-value, shown as not judged."""
    return {
        "check": check.id,
        "severity": check.severity,
        "attribute": check.attribute,
        "classifier": classifier,
        **where,
        "measure": "",
        "baseline": float("nan"),
        "candidate": float("nan"),
        "change": float("nan"),
        "n_baseline": 0,
        "n_candidate": 0,
        "test": "",
        "p_value": float("nan"),
        "_by": list(where),
        "_evidence": (),
        "_note": reason,
    }
