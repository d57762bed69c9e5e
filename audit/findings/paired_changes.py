"""What the paired comparison of a mitigated run with its baseline (:mod:`audit.findings.mitigation`) shares
across check types: one change row, a group's key, and the resampling sizes. Each check type's
``compare_paired`` (in its module of :mod:`audit.findings.checks`) builds its rows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from audit.stats import slopes

RESAMPLES = 2000
SLOPE_RESAMPLES = 200


def plain_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def group_key(row: dict[str, Any], by: list[str]) -> dict[str, Any]:
    return {k: plain_value(row[k]) for k in by}


def change_row(check, classifier: str, group: dict, result: dict, abstained: int, measure: str) -> dict:
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


def draw_slopes(stack: np.ndarray, ref: np.ndarray, templates: np.ndarray | None) -> np.ndarray:
    """Slopes of draws of a (prompts × draws × seeds) array of 0/1/NaN: each draw's counts over its seeds."""
    count = np.nansum(stack, axis=2).T
    n = np.sum(~np.isnan(stack), axis=2).T
    return slopes(count, n, ref, templates=templates)
