"""The two burdens of proof a check can carry, as rules on one-sided p-values across the groups of a check.

- ``evidence_of_harm`` (CI gates): each group's p-value tests H0: metric <=
  limit; the groups are adjusted together by Benjamini-Hochberg, and a group
  fails where its adjusted p-value is at most alpha. A model within the limit
  everywhere fails the check with probability at most alpha, and among the
  groups that fail, at most a share alpha are expected to be within the limit.
- ``evidence_of_safety`` (certification): each group's p-value tests H0:
  metric >= limit; Bonferroni over the groups, so a group passes only where
  its simultaneous upper bound (level 1 - alpha / groups) is within the limit.
  The chance that any group beyond the limit passes is at most alpha.

A group without a p-value (NaN: nothing to judge) is "not judged", never a
pass, and does not count as a test.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

HARM = "evidence_of_harm"
SAFETY = "evidence_of_safety"
DECIDE_MODES = (HARM, SAFETY)
PASS, FAIL, NOT_JUDGED = "pass", "fail", "not_judged"


def adjusted_p_values(p_values, decide: str) -> np.ndarray:
    """BH-adjusted (harm) or Bonferroni-adjusted (safety) p-values; NaN stays NaN and is not counted."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    valid = ~np.isnan(p)
    if not valid.any():
        return out
    if decide == HARM:
        out[valid] = stats.false_discovery_control(np.clip(p[valid], 0, 1), method="bh")
    elif decide == SAFETY:
        out[valid] = np.minimum(1.0, p[valid] * int(valid.sum()))
    else:
        raise ValueError(f"decide must be one of {', '.join(DECIDE_MODES)}, got {decide!r}")
    return out


def statuses(p_adjusted, decide: str, alpha: float) -> list[str]:
    """Each group's status: harm fails where the adjusted p <= alpha; safety passes only there."""
    out = []
    for p in np.asarray(p_adjusted, dtype=float):
        if np.isnan(p):
            out.append(NOT_JUDGED)
        elif p <= alpha:
            out.append(FAIL if decide == HARM else PASS)
        else:
            out.append(PASS if decide == HARM else FAIL)
    return out


def bound_confidence(decide: str, alpha: float, groups: int) -> float:
    """The confidence of the one-sided bound a rule reports: 1 - alpha (harm), 1 - alpha / groups (safety)."""
    return 1 - alpha if decide == HARM else 1 - alpha / max(groups, 1)
