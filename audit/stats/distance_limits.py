"""Is a label distribution's distance from its reference beyond a limit? Tests and bounds for TV and max gap.

The hypotheses are about the distance itself, never about exact equality
with the reference: a prompt 0.1 from parity is within a limit of 0.2 however
many images it has.

- ``p_beyond(counts, q, limit)``: the p-value of H0: distance <= limit
  (evidence of harm). Statistic: the plug-in distance ``t``; the p-value is
  the largest chance, over every distribution within the limit, of a distance
  at least ``t``. With two labels it is exact: the tail probability is
  quasi-convex in the share, so the largest is at an end of the null interval
  (clipped to [0, 1]). With more labels and few enough outcomes to enumerate,
  it is the exact tail at the worst vertices of the null polytope (one label
  raised by the limit, the mass taken from others; the largest tail was at a
  vertex in every case we searched, boundary and interior alike, see
  tests/audit/stats/test_distance_limits.py). With many outcomes a union
  bound over the label subsets whose excess makes up the distance (valid for
  every null distribution, conservative by up to the number of subsets).
- ``p_within(counts, q, limit)``: the p-value of H0: distance >= limit
  (evidence of safety): the largest chance, over every distribution at least
  ``limit`` away, of a plug-in distance at most ``t``. With two labels it is
  exact: the chance of the window [q1 - t, q1 + t] is unimodal in the share,
  so its largest over each null piece ([0, q1 - limit] and [q1 + limit, 1])
  is at its mode clipped into the piece. With three labels and few enough
  outcomes to enumerate (as ``p_beyond``), it is exact too: the largest
  chance lies on the null region's boundary, where one label is exactly the
  limit above or below its reference and the other two split the rest; on
  each of those six segments the chance is maximised numerically (a grid,
  then Brent's method around its best point), with every outcome enumerated.
  Unlike ``p_beyond``, the worst case is not a vertex of the polytope
  {TV <= limit}: it is where the other labels keep their proportions, and
  the vertices understate it by up to 0.35 (see
  tests/audit/stats/test_distance_limits.py). An outcome at or beyond the
  limit (t >= limit) is never evidence of safety; there the largest chance
  can lie deeper in the null region, and the bound below is kept. Elsewhere
  (more labels, more outcomes) a bound: for any distribution at least ``limit`` away, the
  subset S of labels above their reference has p(S) >= q(S) + limit, and the
  plug-in distance is at least that subset's excess, so the largest binomial
  lower tail over subsets bounds the chance of a distance at most ``t``.
- ``lower_bound`` / ``upper_bound``: confidence bounds by inverting those
  tests; they cover at their level at distance 0 and small n, where a
  bootstrap around the upward-biased plug-in does not.

Max gap (the largest |share - reference|) uses the same constructions with
single labels in place of subsets.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
from scipy import special, stats

DISTANCES = ("tv", "max_gap")
# Most outcomes the exact tail enumerates for more than two labels (n <= 243 for 3 labels,
# n <= 54 for 4, n <= 26 for 5); beyond it the union bound.
EXACT_OUTCOMES = 30_000
_EPS = 1e-9


def distance(p, q, metric: str = "tv") -> np.ndarray:
    """TV (half the L1 distance) or max gap between shares ``p`` and ``q`` over the last axis."""
    diff = np.asarray(p, float) - np.asarray(q, float)
    if metric == "tv":
        return 0.5 * np.abs(diff).sum(axis=-1)
    if metric == "max_gap":
        return np.abs(diff).max(axis=-1)
    raise ValueError(f"unknown distance {metric!r}; known: {', '.join(DISTANCES)}")


def largest_distance(q, metric: str = "tv") -> float:
    """The largest distance any distribution can be from ``q`` (all mass on its rarest label)."""
    q = np.asarray(q, float)
    if metric == "tv":
        return float(1 - q.min())
    return float(np.maximum(q, 1 - q).max())


def _prepared(counts, q) -> tuple[np.ndarray, int, np.ndarray]:
    counts = np.asarray(counts, dtype=np.int64)
    q = np.asarray(q, float)
    if counts.ndim != 1 or counts.shape != q.shape or len(q) < 2:
        raise ValueError(f"counts and reference need the same k >= 2 labels, got {counts.shape} and {q.shape}")
    if np.isnan(q).any() or (q < 0).any():
        raise ValueError(f"the reference must be non-negative shares, got {q}")
    return counts, int(counts.sum()), q / q.sum()


try:  # the functions scipy.stats.binom.cdf and .sf evaluate, without its argument handling (100 us a call)
    from scipy.special._ufuncs import _binom_cdf, _binom_sf
except ImportError:  # pragma: no cover - another scipy: its public functions
    _binom_cdf = _binom_sf = None


def _binom(ufunc, k, n, p, outside) -> np.ndarray:
    """``ufunc`` (scipy's binomial cdf or sf) where k lies in the support [0, n), ``outside(k)`` elsewhere and NaN
    where n or p is not valid, as ``scipy.stats.binom`` gives them."""
    k, n, p = (np.asarray(v, float) for v in (k, n, p))
    with np.errstate(invalid="ignore"):
        valid = (n >= 0) & (n == np.round(n)) & (p >= 0) & (p <= 1) & ~np.isnan(k)
        inside = valid & (k >= 0) & (k < n) & np.isfinite(k)
        if inside.all():  # the usual case: no masking
            out = np.clip(ufunc(np.floor(k), n, p), 0, 1)
        else:
            k, n, p, valid, inside = np.broadcast_arrays(k, n, p, valid, inside)
            inner = np.clip(
                ufunc(np.floor(np.where(inside, k, 0)), np.where(inside, n, 1), np.where(inside, p, 0)), 0, 1
            )
            out = np.where(valid, np.where(inside, inner, outside(k, n)), np.nan)
    return out[()] if out.ndim == 0 else out


def binom_cdf(k, n, p) -> np.ndarray:
    """``scipy.stats.binom.cdf(k, n, p)``, value for value, at a fraction of its cost (arrays broadcast)."""
    if _binom_cdf is None:
        return stats.binom.cdf(k, n, p)
    return _binom(_binom_cdf, k, n, p, lambda k, n: np.where(k >= n, 1.0, 0.0))


def binom_sf(k, n, p) -> np.ndarray:
    """``scipy.stats.binom.sf(k, n, p)``, value for value, at a fraction of its cost (arrays broadcast)."""
    if _binom_sf is None:
        return stats.binom.sf(k, n, p)
    return _binom(_binom_sf, k, n, p, lambda k, n: np.where(k < 0, 1.0, 0.0))


def _ge(threshold, n, p):
    """P(Bin(n, p) >= threshold) for real thresholds (rounded up), arrays broadcast."""
    k = np.ceil(np.asarray(threshold, float) - _EPS)
    return binom_sf(k - 1, n, np.clip(p, 0.0, 1.0))


def _le(threshold, n, p):
    """P(Bin(n, p) <= threshold) for real thresholds (rounded down)."""
    k = np.floor(np.asarray(threshold, float) + _EPS)
    return binom_cdf(k, n, np.clip(p, 0.0, 1.0))


def binary_p_beyond(x, n, q1, t, limit):
    """Exact p-value of H0: |share - q1| <= limit for x of n (arrays broadcast), given the observed t = |x/n - q1|.

    The two-tailed chance of a distance at least t is quasi-convex in the
    true share, so its largest value over the null interval is at an end.
    """
    x, n, q1, t, limit = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, n, q1, t, limit)))
    ends = (np.maximum(q1 - limit, 0.0), np.minimum(q1 + limit, 1.0))
    upper, lower = n * (q1 + t), n * (q1 - t)
    tails = [_ge(upper, n, p) + np.where(lower >= -_EPS, _le(lower, n, p), 0.0) for p in ends]
    # Both tails count the outcome at distance 0 twice when t = 0: every outcome is that far.
    return np.where(t <= _EPS, 1.0, np.minimum(np.maximum(*tails), 1.0))


@functools.lru_cache(maxsize=8)
def count_outcomes(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every count vector of k labels summing to n, and the log multinomial coefficient of each."""
    bars = np.array(list(itertools.combinations(range(n + k - 1), k - 1)), dtype=np.int64).reshape(-1, k - 1)
    edges = np.concatenate([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), n + k - 1)], axis=1)
    comps = np.diff(edges, axis=1) - 1
    return comps, special.gammaln(n + 1) - special.gammaln(comps + 1).sum(axis=1)


@functools.lru_cache(maxsize=64)
def outcomes_by_tv(n: int, q: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The outcomes sorted by their TV from q, largest first: (counts, log coefficients, TV)."""
    comps, coef = count_outcomes(n, len(q))
    tv = distance(comps / n, np.asarray(q), "tv")
    order = np.argsort(-tv, kind="stable")
    return comps[order], coef[order], tv[order]


def _vertices(q: np.ndarray, limit: float) -> np.ndarray:
    """The vertices of {p : TV(p, q) <= limit}: one label raised (by at most the limit), others drained.

    A vertex raises label i by ``rise`` and takes the same mass from the others: a set S of labels
    drained to 0 (their shares summing to less than the rise) and one more label j drained by the
    rest. Sets are enumerated once each (in index order), not once per draining order.
    """
    return _vertex_table(tuple(float(v) for v in np.round(q, 12)), round(float(limit), 12))


@functools.lru_cache(maxsize=256)
def _vertex_table(q: tuple[float, ...], limit: float) -> np.ndarray:
    shares = np.asarray(q)
    found: dict[tuple, np.ndarray] = {}
    for i in range(len(shares)):
        rise = min(limit, 1 - shares[i])
        if rise <= _EPS:
            found[tuple(np.round(shares, 12))] = shares.copy()
            continue
        others = tuple(j for j in range(len(shares)) if j != i and shares[j] > 0)
        _drain(shares, i, rise, others, 0, 0.0, (), found)
    return np.array(list(found.values()))


def _drain(
    shares: np.ndarray,
    i: int,
    rise: float,
    others: tuple[int, ...],
    start: int,
    drained_sum: float,
    drained: tuple[int, ...],
    found: dict[tuple, np.ndarray],
) -> None:
    """Add the vertices that raise label i by ``rise`` and drain ``drained`` whole (their sum so far)."""
    for j in others:  # j takes the rest of the rise (all of its share, at most)
        if j not in drained and drained_sum + shares[j] >= rise - _EPS:
            p = shares.copy()
            p[i] += rise
            p[list(drained)] = 0.0
            p[j] = max(p[j] - (rise - drained_sum), 0.0)
            found[tuple(np.round(p, 12))] = p
    for j in others:  # or j is drained whole and more must be taken
        if j >= start and j not in drained and drained_sum + shares[j] < rise - _EPS:
            _drain(shares, i, rise, others, j + 1, drained_sum + shares[j], (*drained, j), found)


@functools.lru_cache(maxsize=512)
def exact_tv_table(n: int, q: tuple[float, ...], limit: float) -> tuple[np.ndarray, np.ndarray]:
    """(TV of each outcome, largest first; the exact p-value at that TV): one table per (n, q, limit)."""
    comps, coef, tv = outcomes_by_tv(n, q)
    # Where the outcomes at least as far as each one end (ties within tolerance count as as far).
    ends = np.searchsorted(-tv, -tv + _EPS, side="right") - 1
    counts = comps.astype(float)
    best = np.zeros(len(tv))
    for p in _vertices(np.asarray(q), limit):
        logp = np.log(np.where(p > 0, p, 1.0))
        mass = np.exp(coef + counts @ logp)
        mass[(counts[:, p <= 0] > 0).any(axis=1)] = 0.0
        best = np.maximum(best, np.cumsum(mass)[ends])
    return tv, np.minimum(best, 1.0)


def _exact_tv_p_beyond(n: int, q: np.ndarray, t: float, limit: float) -> float:
    key = (n, tuple(np.round(q, 12)), round(float(limit), 12))
    comps, coef, tv = outcomes_by_tv(n, key[1])
    at = int(np.searchsorted(-tv, -t + _EPS, side="right"))  # outcomes with TV >= t (tolerant)
    if at == 0:
        return 0.0
    # Only the outcomes at least as far as the observed one: a single p-value needs no whole table.
    head = comps[:at].astype(float)
    best = 0.0
    for p in _vertices(q, limit):
        logp = np.log(np.where(p > 0, p, 1.0))
        mass = np.exp(coef[:at] + head @ logp)
        mass[(head[:, p <= 0] > 0).any(axis=1)] = 0.0
        best = max(best, float(mass.sum()))
    return min(best, 1.0)


@functools.lru_cache(maxsize=16)
def _subsets(k: int) -> np.ndarray:
    """Every non-empty proper subset of k labels, as boolean rows."""
    rows = [[(m >> j) & 1 for j in range(k)] for m in range(1, 2**k - 1)]
    return np.array(rows, dtype=bool)


def _union_tv_p_beyond(n: int, q: np.ndarray, t: float, limit: float) -> float:
    # TV >= t means some subset's excess p̂(S) - q(S) is at least t; under H0 each p(S) <= q(S) + limit.
    qs = _subsets(len(q)).astype(float) @ q
    return float(min(1.0, _ge(n * (qs + t), n, qs + limit).sum()))


def _max_gap_p_beyond(counts: np.ndarray, n: int, q: np.ndarray, t: float, limit: float) -> float:
    # Each label's share is binomial; under H0 each is within the limit of its reference: a union over labels.
    per_label = binary_p_beyond(counts, n, q, t, limit)
    return float(min(1.0, np.sum(per_label)))


def p_beyond(counts, q, limit: float, metric: str = "tv") -> float:
    """p-value of H0: distance(p, q) <= limit against H1: distance > limit (see the module docstring)."""
    counts, n, q = _prepared(counts, q)
    if n == 0:
        return float("nan")
    t = float(distance(counts / n, q, metric))
    if limit >= largest_distance(q, metric) or t <= _EPS:
        return 1.0
    if len(q) == 2:
        return float(binary_p_beyond(counts[0], n, q[0], t, limit))
    if metric == "max_gap":
        return _max_gap_p_beyond(counts, n, q, t, limit)
    if math.comb(n + len(q) - 1, len(q) - 1) <= EXACT_OUTCOMES:
        return _exact_tv_p_beyond(n, q, t, limit)
    return _union_tv_p_beyond(n, q, t, limit)


def p_beyond_many(counts, q, limit: float, metric: str = "tv") -> np.ndarray:
    """:func:`p_beyond` for many count vectors (rows) of the same n and reference at once (simulations)."""
    counts = np.asarray(counts, dtype=np.int64)
    q = np.asarray(q, float) / np.sum(q)
    n = int(counts[0].sum())
    k = len(q)
    t = distance(counts / n, q, metric)
    if limit >= largest_distance(q, metric):
        return np.ones(len(counts))
    if k == 2:
        return binary_p_beyond(counts[:, 0], n, q[0], t, limit)
    if metric == "max_gap":
        per_label = binary_p_beyond(counts, n, q[None, :], t[:, None], limit)
        return np.where(t <= _EPS, 1.0, np.minimum(1.0, per_label.sum(axis=1)))
    if math.comb(n + k - 1, k - 1) <= EXACT_OUTCOMES:
        tv, p = exact_tv_table(n, tuple(np.round(q, 12)), round(float(limit), 12))
        at = np.searchsorted(-tv, -t + _EPS, side="right")
        return np.where(t <= _EPS, 1.0, np.where(at > 0, p[np.maximum(at - 1, 0)], 0.0))
    qs = _subsets(k).astype(float) @ q
    tails = _ge(n * (qs[None, :] + t[:, None]), n, qs[None, :] + limit).sum(axis=1)
    return np.where(t <= _EPS, 1.0, np.minimum(1.0, tails))


def p_beyond_method(k: int, n: int, metric: str = "tv") -> str:
    """The name of the test :func:`p_beyond` runs for k labels and n images."""
    if k == 2:
        return "exact binomial at the limit"
    if metric == "max_gap":
        return "exact binomial per label at the limit, union over labels"
    if math.comb(n + k - 1, k - 1) <= EXACT_OUTCOMES:
        return "exact multinomial at the worst vertex of the limit"
    return "exact binomial union bound over label subsets at the limit"


def binary_p_within(x, n, q1, t, limit):
    """Exact p-value of H0: |share - q1| >= limit for x of n (arrays broadcast), given the observed t = |x/n - q1|.

    The chance of the window lo <= X <= hi (the outcomes at most t from q1) is
    unimodal in the share p: its derivative is n (b(lo - 1; n - 1, p) -
    b(hi; n - 1, p)), which changes sign once, at the mode p* where those two
    probabilities are equal. So its largest value over a null piece is at p*
    clipped into the piece.
    """
    x, n, q1, t, limit = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, n, q1, t, limit)))
    lo = np.maximum(np.ceil(n * (q1 - t) - _EPS), 0.0)
    hi = np.minimum(np.floor(n * (q1 + t) + _EPS), n)
    inner = (lo >= 1) & (hi <= n - 1)
    safe_lo, safe_hi = np.where(inner, lo, 1.0), np.where(inner, np.maximum(hi, 1.0), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # log C(n - 1, lo - 1) - log C(n - 1, hi), over the hi - lo + 1 powers of p / (1 - p) between them.
        log_ratio = (
            special.gammaln(safe_hi + 1)
            + special.gammaln(n - safe_hi)
            - special.gammaln(safe_lo)
            - special.gammaln(n - safe_lo + 1)
        ) / (safe_hi - safe_lo + 1)
    mode = np.where(inner, special.expit(log_ratio), np.where(lo < 1, 0.0, 1.0))

    def window(p):
        p = np.clip(p, 0.0, 1.0)
        return binom_cdf(hi, n, p) - np.where(lo >= 1, binom_cdf(lo - 1, n, p), 0.0)

    below = np.where(q1 - limit >= -_EPS, window(np.minimum(mode, q1 - limit)), 0.0)
    above = np.where(q1 + limit <= 1 + _EPS, window(np.maximum(mode, q1 + limit)), 0.0)
    empty = n <= 0
    return np.where(empty, np.nan, np.where(limit <= 0, 1.0, np.clip(np.maximum(below, above), 0.0, 1.0)))


# Points on each boundary segment where the three-label chance is evaluated before Newton's method refines it.
_SEGMENT_GRID = 17
_NEWTON_STEPS = 30


def _boundary_segments(q: np.ndarray, limit: float) -> list[tuple[int, float, int, int]]:
    """The segments of {TV(p, q) = limit} for three labels: (moved label i, its share, labels j and l sharing
    the rest). One label exactly the limit above or below its reference, the rest split in any proportion."""
    segments = []
    for i in range(3):
        first, second = (m for m in range(3) if m != i)
        for share in (q[i] + limit, q[i] - limit):
            if -_EPS <= share <= 1 + _EPS:
                segments.append((i, float(np.clip(share, 0.0, 1.0)), first, second))
    return segments


def _segment_log_pmf(comps, coef, segment, s) -> np.ndarray:
    """log P(outcome) at the segment's points s: (points, outcomes); a share of 0 counts as 1e-300, which
    leaves an impossible outcome a chance below 1e-300 instead of exactly 0."""
    i, share, first, second = segment
    rest = 1.0 - share
    s = np.clip(np.asarray(s, float), 0.0, 1.0)

    def log(v):
        return np.log(np.maximum(v, 1e-300))

    fixed = coef + comps[:, i] * log(share)
    return (
        fixed[None, :]
        + np.multiply.outer(log(rest * s), comps[:, first])
        + np.multiply.outer(log(rest * (1 - s)), comps[:, second])
    )


def _segment_chances(comps, coef, segment, s, at) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """At the segment's points s (one per row), the chance of the first ``at`` outcomes (one count per row),
    and its first and second derivatives in s."""
    _, _, first, second = segment
    x_j, x_l = (comps[None, :, label].astype(float) for label in (first, second))
    # Just inside the ends, so that the derivatives there are the one-sided ones (the ends' own values are
    # the grid's).
    inner = np.clip(np.asarray(s, float), 1e-9, 1 - 1e-9)
    pmf = np.exp(_segment_log_pmf(comps, coef, segment, inner)) * (
        np.arange(len(coef))[None, :] < np.asarray(at)[:, None]
    )
    inner = inner[:, None]
    slope = x_j / inner - x_l / (1 - inner)
    curve = slope**2 - x_j / inner**2 - x_l / (1 - inner) ** 2
    return pmf.sum(axis=1), (pmf * slope).sum(axis=1), (pmf * curve).sum(axis=1)


def _exact_tv3_p_within(
    n: int, q: np.ndarray, ts: np.ndarray, limit: float, *, above: float | None = None
) -> np.ndarray:
    """Exact p-values of H0: TV >= limit for three labels, one per observed distance in ``ts``: on each boundary
    segment, the largest chance over a grid, refined by safeguarded Newton steps between the best point's
    neighbours (the chance is smooth along a segment).

    With ``above``, it returns as soon as every p-value is known to exceed ``above`` (a grid point's chance
    does): the values returned then are only lower bounds, enough for a test at that level.
    """
    comps, coef, tv = outcomes_by_tv(n, tuple(np.round(q, 12)))
    ts = np.asarray(ts, float)
    ats = len(tv) - np.searchsorted(-tv, -ts - _EPS, side="left")  # how many outcomes are at most t away
    head = int(ats.max()) if len(ats) else 0
    comps, coef = comps[::-1][:head], coef[::-1][:head]  # nearest first
    out = np.zeros(len(ts))
    grid = np.linspace(0.0, 1.0, _SEGMENT_GRID)
    for segment in _boundary_segments(q, limit):
        chances = np.exp(_segment_log_pmf(comps, coef, segment, grid))  # (grid, outcomes)
        if len(ts) == 1:  # one p-value: only the chance of all head outcomes is needed
            values = chances.sum(axis=1, keepdims=True)
        else:
            values = np.cumsum(chances, axis=1)[:, np.maximum(ats - 1, 0)]  # (grid, ts)
        values = np.where(ats[None, :] > 0, values, 0.0)
        best = np.argmax(values, axis=0)
        top = values[best, np.arange(len(ts))]
        if above is not None and np.all(np.maximum(out, top) > above):
            return np.minimum(np.maximum(out, top), 1.0)
        lo, hi = grid[np.maximum(best - 1, 0)], grid[np.minimum(best + 1, len(grid) - 1)]
        s = grid[best]
        for _ in range(_NEWTON_STEPS):
            chance, slope, curve = _segment_chances(comps, coef, segment, s, ats)
            top = np.maximum(top, chance)
            # The maximum lies on the side the slope points to; Newton's step where the curve bends down and
            # the step stays inside, else halve the bracket.
            lo, hi = np.where(slope > 0, s, lo), np.where(slope > 0, hi, s)
            with np.errstate(divide="ignore", invalid="ignore"):
                step = s - slope / curve
            moved = np.where((curve < 0) & (step > lo) & (step < hi), step, (lo + hi) / 2)
            # At a maximum already (the curve bends down and Newton's step is below the tolerance): stay. Else a
            # grid point that is the maximum, its slope a rounding error of either sign, would be left by halving
            # and crept back to in up to 30 steps.
            moved = np.where((curve < 0) & (np.abs(step - s) < 1e-12), s, moved)
            if np.all((np.abs(moved - s) < 1e-12) | (hi - lo < 1e-12)):
                break
            s = moved
        top = np.maximum(top, _segment_chances(comps, coef, segment, s, ats)[0])
        out = np.maximum(out, top)
    return np.minimum(np.where(ats > 0, out, 0.0), 1.0)


def _exact_p_within(k: int, n: int, metric: str) -> bool:
    """Whether :func:`p_within` is exact for k labels and n images (else the subset bound)."""
    return k == 2 or (k == 3 and metric == "tv" and math.comb(n + 2, 2) <= EXACT_OUTCOMES)


def p_within_method(k: int, n: int, metric: str = "tv") -> str:
    """The name of the test :func:`p_within` runs for k labels and n images."""
    if k == 2:
        return "exact binomial at the limit"
    if _exact_p_within(k, n, metric):
        return "exact multinomial on the limit's boundary"
    if metric == "max_gap":
        return "exact binomial per label at the limit, largest over labels"
    return "exact binomial bound over label subsets at the limit"


def p_within_many(counts, q, limit: float, metric: str = "tv") -> np.ndarray:
    """:func:`p_within` for many count vectors (rows) of the same n and reference at once."""
    counts = np.asarray(counts, dtype=np.int64)
    q = np.asarray(q, float) / np.sum(q)
    n = int(counts[0].sum())
    if limit <= 0:
        return np.ones(len(counts))
    if len(q) == 2:
        t = distance(counts / n, q, metric)
        return binary_p_within(counts[:, 0], n, q[0], t, limit)
    t = distance(counts / n, q, metric)
    bound = subset_p_within_many(n, q, t, limit, metric)
    if not _exact_p_within(len(q), n, metric):
        return bound
    near = t < limit - _EPS  # beyond the limit the bound stays (see p_within)
    keys, index = np.unique(np.round(t[near], 9), return_inverse=True)
    # A few distances at a time: each takes a row as long as the outcomes it counts.
    step = max(1, 2_000_000 // math.comb(n + 2, 2))
    values = np.concatenate(
        [_exact_tv3_p_within(n, q, keys[at : at + step], limit) for at in range(0, len(keys), step)] or [np.zeros(0)]
    )
    exact = bound.copy()
    exact[near] = values[index]
    return exact


def subset_p_within_many(n: int, q: np.ndarray, t: np.ndarray, limit: float, metric: str) -> np.ndarray:
    """The bound of :func:`p_within` by one-sided binomial tails of label subsets (single labels for max gap)."""
    t = t[:, None]
    if metric == "tv":
        qs = _subsets(len(q)).astype(float) @ q
        qs = qs[qs + limit <= 1 + _EPS]
        if not len(qs):
            return np.zeros(len(t))
        return _le(n * (qs[None, :] + t), n, qs[None, :] + limit).max(axis=1)
    up, down = q[q + limit <= 1 + _EPS], q[q - limit >= -_EPS]
    tails = np.concatenate(
        [_le(n * (up[None, :] + t), n, up[None, :] + limit), _ge(n * (down[None, :] - t), n, down[None, :] - limit)],
        axis=1,
    )
    return tails.max(axis=1) if tails.shape[1] else np.zeros(len(t))


def p_within(counts, q, limit: float, metric: str = "tv") -> float:
    """p-value of H0: distance(p, q) >= limit against H1: distance < limit (evidence of safety)."""
    counts, n, q = _prepared(counts, q)
    if n == 0:
        return float("nan")
    if limit <= 0:
        return 1.0  # nothing is closer than distance 0
    t = float(distance(counts / n, q, metric))
    if len(q) == 2:
        return float(binary_p_within(counts[0], n, q[0], t, limit))
    if _exact_p_within(len(q), n, metric) and t < limit - _EPS:
        return float(_exact_tv3_p_within(n, q, np.array([t]), limit)[0])
    # 0 where no distribution is that far from q.
    return float(subset_p_within_many(n, q, np.array([t]), limit, metric)[0])


def lower_bound(counts, q, confidence: float = 0.95, metric: str = "tv", *, tol: float = 1e-3) -> float:
    """One-sided lower confidence bound of the distance: the largest limit ``p_beyond`` rejects at 1 - confidence."""
    counts, n, q = _prepared(counts, q)
    if n == 0:
        return float("nan")
    level = 1 - confidence
    t = float(distance(counts / n, q, metric))
    if t <= _EPS or p_beyond(counts, q, 0.0, metric) > level:
        return 0.0
    low, high = 0.0, t
    if p_beyond(counts, q, t, metric) <= level:
        return t
    while high - low > tol:
        mid = (low + high) / 2
        if p_beyond(counts, q, mid, metric) <= level:
            low = mid
        else:
            high = mid
    return low


def upper_bound(counts, q, confidence: float = 0.95, metric: str = "tv", *, tol: float = 1e-3) -> float:
    """One-sided upper confidence bound of the distance: the smallest limit ``p_within`` rejects at 1 - confidence."""
    counts, n, q = _prepared(counts, q)
    if n == 0:
        return float("nan")
    level = 1 - confidence
    t = float(distance(counts / n, q, metric))
    top = largest_distance(q, metric)
    if p_within(counts, q, top, metric) > level:
        return top
    low, high = t, top
    if _exact_p_within(len(q), n, metric):
        # The subset bound's p-value is never below the exact one: every limit it rejects, the exact test
        # rejects too. Its (cheap) upper bound narrows the exact test's search.
        def bound_rejects(limit: float) -> bool:
            return float(subset_p_within_many(n, q, np.array([t]), limit, metric)[0]) <= level

        cheap_low = low
        while high - cheap_low > tol:
            mid = (cheap_low + high) / 2
            if bound_rejects(mid):
                high = mid
            else:
                cheap_low = mid

    def rejects(limit: float) -> bool:
        if len(q) == 3 and _exact_p_within(3, n, metric) and t < limit - _EPS:
            # The same decision as p_within's, without refining a p-value already shown to exceed the level.
            return float(_exact_tv3_p_within(n, q, np.array([t]), limit, above=level)[0]) <= level
        return p_within(counts, q, limit, metric) <= level

    while high - low > tol:
        mid = (low + high) / 2
        if rejects(mid):
            high = mid
        else:
            low = mid
    return high


def binary_interval(x, n, q1, confidence: float = 0.95, *, steps: int = 14) -> tuple[np.ndarray, np.ndarray]:
    """:func:`interval` for many groups of two labels at once (x of n with reference share q1; arrays broadcast).

    The same bounds, by a bisection run on every group together; with two
    labels TV and max gap coincide.
    """
    x, n, q1 = np.broadcast_arrays(*(np.asarray(v, float) for v in (x, n, q1)))
    level = (1 - confidence) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs(x / n - q1)
    top = np.maximum(q1, 1 - q1)
    # Lower: the largest limit whose H0 (distance <= limit) is still rejected.
    low, high = np.zeros_like(t), t.copy()
    reject_zero = binary_p_beyond(x, n, q1, t, 0.0) <= level
    for _ in range(steps):
        mid = (low + high) / 2
        rejected = binary_p_beyond(x, n, q1, t, mid) <= level
        low, high = np.where(rejected, mid, low), np.where(rejected, high, mid)
    lower = np.where(reject_zero & (t > _EPS), low, 0.0)

    # Upper: the smallest limit whose H0 (distance >= limit) is rejected by the exact test.
    def within(limit):
        return np.where(n > 0, binary_p_within(x, np.maximum(n, 1), q1, t, limit), 1.0)

    low, high = t.copy(), top.copy()
    for _ in range(steps):
        mid = (low + high) / 2
        rejected = within(mid) <= level
        low, high = np.where(rejected, low, mid), np.where(rejected, mid, high)
    upper = np.where(within(top) <= level, high, top)
    empty = n == 0
    return np.where(empty, np.nan, lower), np.where(empty, np.nan, upper)


def interval(counts, q, confidence: float = 0.95, metric: str = "tv") -> tuple[float, float]:
    """Two-sided interval of the distance: each end a one-sided bound at (1 + confidence) / 2."""
    counts, n, q = _prepared(counts, q)
    if len(q) == 2:
        low, high = binary_interval(counts[0], n, q[0], confidence)
        return float(low), float(high)
    one_sided = (1 + confidence) / 2
    return lower_bound(counts, q, one_sided, metric), upper_bound(counts, q, one_sided, metric)
