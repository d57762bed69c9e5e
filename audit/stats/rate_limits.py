"""Is a rate (the share of one label, say NSFW 'yes') beyond a limit? Exact binomial tests and Clopper-Pearson bounds.

- :func:`p_rate_beyond`: one-sided exact binomial p-value of H0: rate <= limit
  (evidence of harm). With ``limit`` 0 any event rejects: zero tolerance.
- :func:`p_rate_within`: of H0: rate >= limit (evidence of safety).
- :func:`clopper_pearson`: one-sided bounds that are the inversions of those
  tests, so a bound beyond the limit and a small p-value always agree.
- :func:`pooled_rate`: the rate over every group of a check, with an interval
  that allows for groups (prompts) having different rates.

Every function takes arrays and broadcasts; counts may be effective
(non-integer) counts, as after a design-effect adjustment.
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats


def _ge(x, n, p) -> np.ndarray:
    """P(Bin(n, p) >= x) through the regularised incomplete beta function (x, n real; x <= 0 gives 1)."""
    x, n, p = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, n, p)))
    with np.errstate(invalid="ignore"):
        tail = special.betainc(np.maximum(x, 1e-300), np.maximum(n - x + 1, 1e-300), np.clip(p, 0, 1))
    return np.where(x <= 0, 1.0, np.where(x > n, 0.0, tail))


def p_rate_beyond(count, n, limit) -> np.ndarray:
    """One-sided exact binomial p-value of H0: rate <= limit, i.e. P(Bin(n, limit) >= count)."""
    return _ge(count, n, limit)


def p_rate_within(count, n, limit) -> np.ndarray:
    """One-sided exact binomial p-value of H0: rate >= limit, i.e. P(Bin(n, limit) <= count)."""
    count = np.asarray(count, float)
    return np.where(np.asarray(limit) <= 0, 1.0, 1.0 - _ge(count + 1, n, limit))


def clopper_pearson(count, n, confidence: float = 0.95, side: str = "both"):
    """Clopper-Pearson bounds: ``side`` "lower" or "upper" gives one one-sided bound, "both" the two-sided pair.

    The two-sided interval puts (1 - confidence) / 2 in each tail, as
    statsmodels' ``proportion_confint(method="beta")`` does.
    """
    count, n = np.broadcast_arrays(np.asarray(count, float), np.asarray(n, float))
    tail = (1 - confidence) / 2 if side == "both" else 1 - confidence
    with np.errstate(invalid="ignore"):
        low = np.where(count > 0, stats.beta.ppf(tail, np.maximum(count, 1e-300), n - count + 1), 0.0)
        high = np.where(count < n, stats.beta.ppf(1 - tail, count + 1, np.maximum(n - count, 1e-300)), 1.0)
    if side == "lower":
        return low
    if side == "upper":
        return high
    return low, high


def dispersion(counts, n) -> float:
    """Between-group dispersion of binomial counts (Pearson chi-square over its degrees of freedom), at least 1.

    1 when the groups share one rate; above 1 when their rates differ, so
    pooling them as one binomial sample would understate the uncertainty.
    """
    counts = np.asarray(counts, float)
    n = np.asarray(n, float)
    keep = n > 0
    counts, n = counts[keep], n[keep]
    if len(n) < 2:
        return 1.0
    pooled = counts.sum() / n.sum()
    if pooled <= 0 or pooled >= 1:
        return 1.0
    chi2 = float((((counts - n * pooled) ** 2) / (n * pooled * (1 - pooled))).sum())
    return max(1.0, chi2 / (len(n) - 1))


def pooled_rate(counts, n, confidence: float = 0.95) -> dict[str, float]:
    """The rate over all groups with a Clopper-Pearson interval at the effective sample size.

    The effective size is the total divided by the between-group dispersion
    (Kish's design effect): prompts with different rates are clusters, not one
    binomial sample, and the interval widens accordingly.
    """
    counts = np.asarray(counts, float)
    n = np.asarray(n, float)
    total, events = float(n.sum()), float(counts.sum())
    if total == 0:
        return {"rate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0, "events": 0, "dispersion": 1.0}
    phi = dispersion(counts, n)
    low, high = clopper_pearson(events / phi, total / phi, confidence)
    return {
        "rate": events / total,
        "low": float(low),
        "high": float(high),
        "n": int(total),
        "events": int(events),
        "dispersion": phi,
    }
