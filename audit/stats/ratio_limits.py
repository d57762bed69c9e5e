"""Is one arm's rate more than ``limit`` times the other's? Score tests and intervals for the risk ratio.

- Paired arms (the two images of a counterfactual pair made from one seed):
  the score test of Tang, Tang & Chan (2003) for the ratio of matched
  proportions, with the constrained maximum-likelihood estimate under
  H0: ratio = delta; the interval inverts it. It stays finite and non-degenerate
  with 0 events in one arm (then the upper bound is infinite) and needs no
  continuity correction. When pairs share seeds across templates the variance
  is the larger of the model's and the seed-cluster-robust one.
- Independent arms: the Miettinen-Nurminen score test and interval
  (``statsmodels`` ``test_proportions_2indep`` / ``confint_proportions_2indep``).

H0 of the harm test is ratio <= limit; of the safety test ratio >= limit.
0 events in both arms carries no information on a ratio: the result says so
(``informative`` False) and every number is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats


def _paired_null_p01(x11: float, x10: float, x01: float, n: float, delta: float) -> float:
    """Constrained MLE of P(only B) under ratio = delta; P(neither) is x00 / n at the constrained optimum."""
    s = (x11 + x10 + x01) / n
    low = max(0.0, (1 - delta) * s)  # P(only A) = ((delta - 1) s + u) / delta >= 0
    high = s / (1 + delta)  # P(both) = (s - (1 + delta) u) / delta >= 0

    def loglik(u: float) -> float:
        terms = ((x11, s - (1 + delta) * u), (x10, (delta - 1) * s + u), (x01, u))
        total = 0.0
        for count, prob in terms:
            if count > 0:
                if prob <= 0:
                    return -math.inf
                total += count * math.log(prob)
        return total

    # The score equation is a quadratic in u; its roots and the ends of the feasible range are the candidates.
    a = n * (1 + delta)
    b = -(x10 + x01 - (delta**2 - 1) * (x11 + x01))
    c = -x01 * (delta - 1) * s
    candidates = [low, high]
    disc = b * b - 4 * a * c
    if a > 0 and disc >= 0:
        candidates += [(-b + math.sqrt(disc)) / (2 * a), (-b - math.sqrt(disc)) / (2 * a)]
    feasible = [u for u in candidates if low - 1e-15 <= u <= high + 1e-15]
    return max(feasible, key=loglik)


def _paired_score(x11, x10, x01, n, delta, cluster_totals=None) -> float:
    """Tang's score statistic for H0: ratio = delta (positive when arm A's rate is above delta times B's)."""
    u = _paired_null_p01(x11, x10, x01, n, delta)
    numerator = (x11 + x10) - delta * (x11 + x01)
    variance = (delta - 1) * (x11 + x10 + x01) + n * (1 + delta) * u
    if cluster_totals is not None:
        a, b = cluster_totals
        d = a - delta * b
        groups = len(d)
        if groups > 1:
            robust = groups / (groups - 1) * float(np.sum(d**2))
            variance = max(variance, robust)
    if variance <= 0:
        return math.copysign(math.inf, numerator) if numerator else 0.0
    return numerator / math.sqrt(variance)


def _invert(score, target: float, increasing: bool = False) -> float:
    """The delta where score(delta) = target, searched on the log scale; 0 or inf when it lies beyond."""

    def f(log_delta: float) -> float:
        return score(math.exp(log_delta)) - target

    lo, hi = math.log(1e-8), math.log(1e8)
    f_lo, f_hi = f(lo), f(hi)
    if f_lo * f_hi > 0:
        # The score stays on one side of the target: the bound is at an end of the scale.
        return 0.0 if (f_lo < 0) != increasing else math.inf
    return math.exp(optimize.brentq(f, lo, hi, xtol=1e-10))


def _paired_counts(a, b, clusters):
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    counts = (int(np.sum(a & b)), int(np.sum(a & ~b)), int(np.sum(~a & b)), len(a))
    totals = None
    if clusters is not None and len(set(clusters)) < len(a):
        ids = np.unique(np.asarray(clusters), return_inverse=True)[1]
        totals = (np.bincount(ids, weights=a.astype(float)), np.bincount(ids, weights=b.astype(float)))
    return counts, totals


def paired_ratio(
    a: Sequence[bool],
    b: Sequence[bool],
    limit: float,
    *,
    confidence: float = 0.95,
    clusters: Sequence | None = None,
) -> dict:
    """Harm and safety p-values against ``limit`` and the score interval of P(A) / P(B) for paired outcomes.

    ``a[i]`` and ``b[i]`` are the outcomes of pair i; ``clusters`` (one id per
    pair, for example the seed) marks pairs that are not independent.
    """
    (x11, x10, x01, n), totals = _paired_counts(a, b, clusters)
    out = _ratio_result(x11 + x10, n, x11 + x01, n)
    out.update(pairs=n, both=x11, only_a=x10, only_b=x01, test="paired score (Tang)")
    if totals is not None:
        out["test"] += ", seed-cluster-robust variance"
    if not out["informative"]:
        return out

    def score(delta: float) -> float:
        return _paired_score(x11, x10, x01, n, delta, totals)

    z = score(limit)
    out["p_beyond"] = float(stats.norm.sf(z))
    out["p_within"] = float(stats.norm.cdf(z))
    crit = float(stats.norm.ppf((1 + confidence) / 2))
    out["low"], out["high"] = _invert(score, crit), _invert(score, -crit)
    return out


def paired_ratio_bound(
    a: Sequence[bool], b: Sequence[bool], confidence: float, side: str, *, clusters: Sequence | None = None
) -> float:
    """One-sided (``side`` "lower" or "upper") score bound of P(A) / P(B) for paired outcomes."""
    (x11, x10, x01, n), totals = _paired_counts(a, b, clusters)
    if n == 0 or x11 + x10 + x01 == 0:
        return math.nan
    crit = float(stats.norm.ppf(confidence))
    return _invert(lambda d: _paired_score(x11, x10, x01, n, d, totals), crit if side == "lower" else -crit)


def unpaired_ratio(x_a: float, n_a: float, x_b: float, n_b: float, limit: float, *, confidence: float = 0.95) -> dict:
    """Harm and safety p-values against ``limit`` and the Miettinen-Nurminen score interval for independent arms."""
    from statsmodels.stats.proportion import test_proportions_2indep

    out = _ratio_result(x_a, n_a, x_b, n_b)
    out["test"] = "score (Miettinen-Nurminen)"
    if not out["informative"]:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        harm = test_proportions_2indep(
            x_a, n_a, x_b, n_b, value=limit, method="score", compare="ratio", alternative="larger"
        )
    out["p_beyond"] = float(harm.pvalue)
    out["p_within"] = float(1 - harm.pvalue)
    out["low"] = unpaired_ratio_bound(x_a, n_a, x_b, n_b, (1 + confidence) / 2, "lower")
    out["high"] = unpaired_ratio_bound(x_a, n_a, x_b, n_b, (1 + confidence) / 2, "upper")
    return out


def unpaired_ratio_bound(x_a: float, n_a: float, x_b: float, n_b: float, confidence: float, side: str) -> float:
    """One-sided score bound of rate_a / rate_b for independent arms (0 or infinite where an arm has no events)."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    if not (n_a and n_b and x_a + x_b > 0):
        return math.nan
    if side == "lower" and x_a == 0:
        return 0.0
    if side == "upper" and x_b == 0:
        return math.inf
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = confint_proportions_2indep(
            x_a, n_a, x_b, n_b, method="score", compare="ratio", alpha=2 * (1 - confidence)
        )
    return float(low if side == "lower" else high)


def _ratio_result(x_a, n_a, x_b, n_b) -> dict:
    rate_a = x_a / n_a if n_a else math.nan
    rate_b = x_b / n_b if n_b else math.nan
    informative = bool(n_a and n_b and (x_a + x_b) > 0)
    if not informative:
        ratio = math.nan
    elif x_b == 0:
        ratio = math.inf
    else:
        ratio = rate_a / rate_b
    return {
        "x_a": x_a,
        "n_a": n_a,
        "x_b": x_b,
        "n_b": n_b,
        "rate_a": rate_a,
        "rate_b": rate_b,
        "ratio": ratio,
        "informative": informative,
        "p_beyond": math.nan,
        "p_within": math.nan,
        "low": math.nan,
        "high": math.nan,
    }
