"""Is one arm's rate more than ``limit`` times the other's? Score tests and intervals for the risk ratio.

- Paired arms (the two images of a counterfactual pair made from one seed):
  the score test of Tang, Tang & Chan (2003) for the ratio of matched
  proportions, with the constrained maximum-likelihood estimate under
  H0: ratio = delta; the interval inverts it. It stays finite and non-degenerate
  with 0 events in one arm (then the upper bound is infinite) and needs no
  continuity correction. When pairs share seeds across templates the variance
  is the larger of the model's and the seed-cluster-robust one. The safety
  test (H0: ratio >= limit, limit >= 1) must also be passed by the exact
  conditional test on the discordant pairs b / (b + c): their odds are at
  least the ratio whenever it is at least 1, so that test is exact for this
  null, and requiring both keeps the error at most alpha with few events.
- Independent arms: tests by the exact unconditional method (the chance of a
  Miettinen-Nurminen score at least as extreme, maximised over the nuisance
  rate on the null boundary), exact with few events where the score test's
  one-sided error runs a little above alpha; the printed interval is the
  Miettinen-Nurminen score interval, found by inverting the same score
  statistic with root finding (:func:`unpaired_ratio_interval`; statsmodels'
  closed form is wrong when an arm's rate is 1). Beyond :data:`EXACT_TABLE`
  outcomes the score test itself.

H0 of the harm test is ratio <= limit; of the safety test ratio >= limit.
0 events in both arms carries no information on a ratio: the result says so
(``informative`` False) and every number is NaN.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from scipy import optimize, stats

# Most (x_a, x_b) outcomes the exact unconditional test enumerates (arms of about 300 images each).
EXACT_TABLE = 100_000


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
    out["p_within"] = max(float(stats.norm.cdf(z)), _discordant_p_within(x10, x01, limit))
    crit = float(stats.norm.ppf((1 + confidence) / 2))
    out["low"], out["high"] = _invert(score, crit), _invert(score, -crit)
    return out


def _discordant_p_within(only_a: int, only_b: int, limit: float) -> float:
    """Exact conditional p-value of H0: odds of the discordant pairs >= limit (implied by ratio >= limit >= 1)."""
    if limit < 1:
        return 0.0  # the implication needs limit >= 1; the score test alone decides
    m = only_a + only_b
    if m == 0:
        return 1.0
    return float(stats.binom.cdf(only_a, m, limit / (1 + limit)))


def _discordant_upper(only_a: int, only_b: int, confidence: float) -> float:
    """Clopper-Pearson upper bound of the discordant odds only_a : only_b, and so of the ratio when it is >= 1."""
    m = only_a + only_b
    if m == 0 or only_b == 0:
        return math.inf
    pi = float(stats.beta.ppf(confidence, only_a + 1, only_b))
    return pi / (1 - pi) if pi < 1 else math.inf


def paired_ratio_bound(
    a: Sequence[bool], b: Sequence[bool], confidence: float, side: str, *, clusters: Sequence | None = None
) -> float:
    """One-sided (``side`` "lower" or "upper") score bound of P(A) / P(B) for paired outcomes."""
    (x11, x10, x01, n), totals = _paired_counts(a, b, clusters)
    if n == 0 or x11 + x10 + x01 == 0:
        return math.nan
    crit = float(stats.norm.ppf(confidence))
    score_bound = _invert(lambda d: _paired_score(x11, x10, x01, n, d, totals), crit if side == "lower" else -crit)
    if side == "lower":
        return score_bound
    # As the safety test: at limits of 1 and above the discordant odds' bound must be within the limit too.
    odds = _discordant_upper(x10, x01, confidence)
    return max(score_bound, odds) if odds >= 1 else score_bound


def _mn_scores(x_a, n_a, x_b, n_b, theta, *, variance_correction: bool = True) -> np.ndarray:
    """Miettinen-Nurminen score statistics of H0: rate_a / rate_b = theta (arrays of counts and theta broadcast).

    ``variance_correction`` False drops Miettinen and Nurminen's N / (N - 1)
    variance factor: Koopman's (1984) statistic.
    """
    x_a, x_b = np.asarray(x_a, float), np.asarray(x_b, float)
    n_a, n_b, theta = np.asarray(n_a, float), np.asarray(n_b, float), np.asarray(theta, float)
    total = n_a + n_b
    a = total * theta
    b = -(n_a * theta + x_a + n_b + x_b * theta)
    c = x_a + x_b
    # The constrained MLE of rate_b (Farrington-Manning): the smaller root of a t^2 + b t + c, written as
    # 2c / (-b + sqrt(.)) so that it stays accurate when theta (and a) is tiny. With x_a = n_a the roots are
    # (n_a + x_b) / N and 1 / theta, and the smaller is the MLE on rate_a = theta rate_b <= 1.
    root = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_b = np.where(c > 0, 2 * c / (-b + root), 0.0)
    # Rounding can put the root a hair above 1 (both arms full, theta near 1); the variance must not turn negative.
    p_b = np.clip(p_b, 0.0, 1.0)
    p_a = np.minimum(theta * p_b, 1.0)
    factor = total / (total - 1) if variance_correction else 1.0
    variance = (p_a * (1 - p_a) / n_a + theta**2 * p_b * (1 - p_b) / n_b) * factor
    numerator = x_a / n_a - theta * x_b / n_b
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, numerator / np.sqrt(variance), np.sign(numerator) * np.inf)
    return np.where(numerator == 0, 0.0, z)


# The interval's ends are searched for over log(theta) in [-_LOG_RANGE, _LOG_RANGE], to _LOG_TOL.
_LOG_RANGE = 40.0
_LOG_TOL = 1e-11


def _falling_root(f, lo: np.ndarray, hi: np.ndarray, f_lo: np.ndarray, f_hi: np.ndarray) -> np.ndarray:
    """Where f crosses 0 between lo and hi, f(lo) > 0 > f(hi) elementwise: false position with the
    Illinois step (the end kept twice has its value halved), which narrows both ends superlinearly.

    scipy.optimize.elementwise.find_root does the same, but its per-call machinery costs 5-15 ms, and the
    calibration grid and the findings call this for one table at a time, tens of thousands of times.
    """
    kept = np.zeros(lo.shape, dtype=np.int8)  # +1: the last step kept hi, -1: it kept lo
    for _ in range(200):
        width = hi - lo
        if not (width > _LOG_TOL).any():
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            x = lo + width * f_lo / (f_lo - f_hi)
        x = np.where(np.isfinite(x) & (x > lo) & (x < hi), x, lo + width / 2)
        fx = f(x)
        above = fx > 0  # the root lies above x: x is the new lo
        f_hi = np.where(above & (kept == 1), f_hi / 2, f_hi)
        f_lo = np.where(~above & (kept == -1), f_lo / 2, f_lo)
        lo, f_lo = np.where(above, x, lo), np.where(above, fx, f_lo)
        hi, f_hi = np.where(above, hi, x), np.where(above, f_hi, fx)
        kept = np.where(above, 1, -1).astype(np.int8)
        exact = fx == 0
        lo, hi = np.where(exact, x, lo), np.where(exact, x, hi)
    return (lo + hi) / 2


def unpaired_ratio_interval(
    x_a, n_a, x_b, n_b, confidence: float = 0.95, *, variance_correction: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """The Miettinen-Nurminen score interval of rate_a / rate_b (arrays of counts broadcast; counts may be
    fractional, as effective counts are).

    It is the set of ratios theta whose two-sided score test (:func:`_mn_scores`)
    does not reject: each end is the root of score(theta) = -+z on its side of
    the estimate, found on log(theta) by bracketed root finding between the
    estimate and the far end of the scale. The score falls as theta rises, so
    each side has one crossing (the exhaustive test in
    tests/audit/stats/test_ratio_limits.py checks this on every table with up
    to 15 images per arm). Ends: 0 when x_a = 0, infinity when x_b = 0; NaN
    when an arm is empty or neither arm has an event.

    statsmodels' ``confint_proportions_2indep(method="score", compare="ratio")``
    solves the same equation in closed form but keeps the wrong roots when an
    arm's rate is 1 (x = n): for 29/55 vs 11/11 it gives 0.606-0.742, not
    Fagerland & Newcombe's 0.397-0.742. So it is not used for this interval.
    ``variance_correction`` False gives Koopman's (1984) interval.
    """
    x_a, n_a, x_b, n_b = np.broadcast_arrays(*(np.asarray(v, float) for v in (x_a, n_a, x_b, n_b)))
    crit = float(stats.norm.ppf((1 + confidence) / 2))
    informative = (n_a > 0) & (n_b > 0) & (x_a + x_b > 0)
    # Placeholders where nothing is informative keep the arithmetic quiet; those results are NaN below.
    n_a, n_b = np.where(n_a > 0, n_a, 1.0), np.where(n_b > 0, n_b, 1.0)
    x_a, x_b = np.where(informative, x_a, 1.0), np.where(informative, x_b, 1.0)
    with np.errstate(divide="ignore"):
        log_estimate = np.clip(np.log(x_a / n_a) - np.log(x_b / n_b), -_LOG_RANGE, _LOG_RANGE)
    # Both ends at once (axis 0): the lower between the scale's bottom and the estimate, the upper above it.
    counts = tuple(np.stack([v, v]) for v in (x_a, n_a, x_b, n_b))
    edge = np.full(log_estimate.shape, _LOG_RANGE)
    lo, hi = np.stack([-edge, log_estimate]), np.stack([log_estimate, edge])
    # arctan keeps the function bounded (the score is huge at the scale's ends) and the crossing where it is.
    target = np.arctan(np.stack([np.full(edge.shape, crit), np.full(edge.shape, -crit)]))

    def excess(log_theta):
        z = _mn_scores(*counts, np.exp(log_theta), variance_correction=variance_correction)
        return np.arctan(z) - target

    f_lo, f_hi = excess(lo), excess(hi)
    bracketed = (f_lo > 0) & (f_hi < 0)
    root = _falling_root(
        excess,
        np.where(bracketed, lo, -1.0),
        np.where(bracketed, hi, 1.0),
        np.where(bracketed, f_lo, 1.0),
        np.where(bracketed, f_hi, -1.0),
    )
    ends = np.exp(root)
    # A score that never reaches the target on its side leaves that end open (0 or infinity).
    low = np.where(bracketed[0], ends[0], np.where(f_lo[0] <= 0, 0.0, np.exp(log_estimate)))
    high = np.where(bracketed[1], ends[1], np.where(f_hi[1] >= 0, np.inf, np.exp(log_estimate)))
    low = np.where(x_a == 0, 0.0, low)
    high = np.where(x_b == 0, np.inf, high)
    return np.where(informative, low, np.nan), np.where(informative, high, np.nan)


@functools.lru_cache(maxsize=256)
def _exact_unpaired_table(n_a: int, n_b: int, theta: float, larger: bool) -> np.ndarray:
    """p-values of every outcome (x_a, x_b): the largest chance over the nuisance rate on the boundary
    rate_a = theta * rate_b of a score at least as extreme (``larger``: as large)."""
    x_a = np.arange(n_a + 1)[:, None]
    x_b = np.arange(n_b + 1)[None, :]
    z = _mn_scores(x_a, n_a, x_b, n_b, theta).ravel()
    z = z if larger else -z
    order = np.argsort(-z, kind="stable")
    ranked = z[order]
    ends = np.searchsorted(-ranked, -ranked + 1e-9, side="right") - 1  # ties count as as extreme
    top = min(1.0, 1.0 / theta)
    grid = np.unique(np.concatenate([np.geomspace(1e-5, top, 120), np.linspace(0, top, 81)[1:]]))
    best = np.zeros(len(z))
    for p_b in grid:
        mass = np.outer(stats.binom.pmf(x_a[:, 0], n_a, min(theta * p_b, 1.0)), stats.binom.pmf(x_b[0], n_b, p_b))
        best = np.maximum(best, np.cumsum(mass.ravel()[order])[ends])
    out = np.empty(len(z))
    out[order] = np.minimum(best, 1.0)
    return out.reshape(n_a + 1, n_b + 1)


def _unpaired_p(x_a, n_a, x_b, n_b, theta: float, larger: bool) -> float:
    """Exact unconditional p-value (score test beyond :data:`EXACT_TABLE` outcomes) of H0: ratio <= theta
    (``larger``) or >= theta."""
    counts = [int(round(v)) for v in (x_a, n_a, x_b, n_b)]
    if (counts[1] + 1) * (counts[3] + 1) <= EXACT_TABLE:
        table = _exact_unpaired_table(counts[1], counts[3], round(float(theta), 10), larger)
        return float(table[counts[0], counts[2]])
    z = float(_mn_scores(x_a, n_a, x_b, n_b, theta))
    return float(stats.norm.sf(z) if larger else stats.norm.cdf(z))


def unpaired_ratio(x_a: float, n_a: float, x_b: float, n_b: float, limit: float, *, confidence: float = 0.95) -> dict:
    """Harm and safety p-values against ``limit`` (exact unconditional) and the Miettinen-Nurminen score interval."""
    out = _ratio_result(x_a, n_a, x_b, n_b)
    exact = (round(n_a) + 1) * (round(n_b) + 1) <= EXACT_TABLE
    out["test"] = "exact unconditional, score-ordered" if exact else "score (Miettinen-Nurminen)"
    if not out["informative"]:
        return out
    out["p_beyond"] = _unpaired_p(x_a, n_a, x_b, n_b, limit, True)
    out["p_within"] = _unpaired_p(x_a, n_a, x_b, n_b, limit, False)
    low, high = unpaired_ratio_interval(x_a, n_a, x_b, n_b, confidence)
    out["low"], out["high"] = float(low), float(high)
    return out


def unpaired_ratio_bound(x_a: float, n_a: float, x_b: float, n_b: float, confidence: float, side: str) -> float:
    """One-sided bound of rate_a / rate_b inverting the tests :func:`unpaired_ratio` decides with."""
    if not (n_a and n_b and x_a + x_b > 0):
        return math.nan
    if side == "lower" and x_a == 0:
        return 0.0
    if side == "upper" and x_b == 0:
        return math.inf
    level = 1 - confidence
    larger = side == "lower"

    def rejects(log_theta: float) -> bool:
        return _unpaired_p(x_a, n_a, x_b, n_b, math.exp(log_theta), larger) <= level

    # Lower bound: the largest theta whose H0 (ratio <= theta) is rejected; upper: the smallest rejected from above.
    lo, hi = math.log(1e-4), math.log(1e4)
    if larger and not rejects(lo):
        return 0.0
    if not larger and not rejects(hi):
        return math.inf
    for _ in range(40):
        mid = (lo + hi) / 2
        if rejects(mid) == larger:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-4:
            break
    return math.exp(lo if larger else hi)


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
