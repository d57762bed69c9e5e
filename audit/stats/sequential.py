"""Anytime-valid evidence for sequential audits: betting e-processes, confidence sequences and e-BH.

A sequential audit makes a prompt's images in rounds of seeds and stops a
group once its verdict is settled. A fixed-n test looked at after every round
would fail compliant models far more often than alpha; the statistics here
stay valid at any stopping time (Ville's inequality):

- **Directions.** Every metric a deviation or rate check judges is the
  largest of some label-set shares minus a constant: TV from a reference q is
  ``max_S p(S) - q(S)`` over label sets S; the largest share gap is
  ``max_j |p_j - q_j|``, the singletons and their complements; a rate is the
  share of one label minus 0. Each direction is the mean of a [0, 1]
  observation (the share of S among a seed's judged images).
- **Betting e-processes** (Waudby-Smith & Ramdas 2023, "Estimating means of
  bounded random variables by betting"): the wealth ``prod(1 + lambda_i (x_i
  - m))`` of a gambler who bets, with a predictable stake ``lambda_i >= 0``,
  that the mean exceeds m is a nonnegative supermartingale whenever the mean
  is at most m. The stake is aGRAPA's (their eq. 26: the growth-optimal bet
  for the estimated mean and variance so far, with one prior observation at
  mean 1/2 and variance 1/4), truncated at ``0.5 / m``.
- **The metric against a limit c.** "metric <= c" holds only if every
  direction's mean is at most its offset + c, so a gambler may bet, before
  each observation, on whichever direction looks furthest beyond so far:
  every such bet is fair or worse under the null, so the wealth is an
  e-process for it (evidence the metric exceeds c; the union a fixed-n test
  takes over label sets, without paying for the number of sets). "metric >=
  c" holds if some direction's mean is at least offset + c, so the smallest
  of the directions' e-processes that their mean is below offset + c is one
  for that (evidence the metric is below c). Those are Beta-mixture
  likelihood ratios, not bets (:func:`_log_mixture_below`): near the limit
  they need 15-22% fewer observations, which is what a compliant group's
  (futility) stop waits for.
- **Confidence sequences** invert both tests on a grid of c (step 0.01, one
  step of slack each side so the truth need not lie on the grid), with the
  running intersection over time: at level 1 - a the interval holds at every
  time at once with probability 1 - a.
- **e-BH** (Wang & Ramdas 2022): reject the k groups with the largest
  e-values, k the largest with ``e_(k) >= m / (alpha k)``; it controls the
  false discovery rate, and so the chance a compliant check fails, at alpha
  under any dependence between groups.

Observations are clusters, not images: a group's images that share a seed
(its prompts at the same seed position) are averaged into one observation, so
images linked by their starting noise never count as independent. Seeds are
independent draws, so each observation is independent of all earlier seed
positions of every group: a group's wealth stays a supermartingale in the
filtration of the whole audit, which is what lets one group's stopping depend
on the others (e-BH) without losing validity.

``confseq`` (the reference implementation of these betting processes) is not
used: its only release, 0.0.11, is a source distribution whose C++ part fails
to build here (CMake, pybind11 2.6), and its ``betting_mart`` evaluates one
null mean at a time, while an audit needs the wealth over directions x limits
x groups at once. The ~40 lines of arithmetic below follow its
``betting_mart`` and ``lambda_aKelly``/aGRAPA and are checked by simulation
(tests/audit/stats/test_sequential.py and the calibration grid).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math

import numpy as np

TRUNCATION = 0.5  # the largest stake, as a share of the most that keeps wealth positive (WSR's default)
GRID_STEP = 0.01  # the grid on which confidence sequences are inverted
STOP_BEYOND = "beyond"
STOP_WITHIN = "within"
STOP_BUDGET = "budget"
STOP_CURTAILED = "curtailed"  # a harm check's group that could not be shown beyond by its budget (see can_reach)
RUNNING = "running"
FUTILITY = 0.2  # a design's default: a group beyond a harm check's limit stops early as within with chance <= 0.2
MIXTURE_SHAPE = 3.0  # the within test's prior on the mean, p/m ~ Beta(3, 1): see _log_mixture_below
_EXACT_SUBSETS = 12  # labels up to which TV's label sets are listed in full (2^11 - 1 directions)


@dataclasses.dataclass(frozen=True)
class Directions:
    """A metric as ``max_d (mean of sets[d]) - offsets[d]``: ``sets`` (D, K) 0/1 rows over the labels."""

    sets: np.ndarray
    offsets: np.ndarray

    @property
    def largest(self) -> float:
        """The largest value the metric can take (some label set's share at 1)."""
        return float(np.max(1 - self.offsets))


def metric_directions(metric: str, q, *, label: int | None = None) -> Directions:
    """The directions of ``metric`` ("tv", "max_gap" or "rate" of label index ``label``) from reference ``q``."""
    q = np.asarray(q, dtype=float)
    k = len(q)
    if metric == "rate":
        if label is None:
            raise ValueError("a rate needs the index of its label")
        sets = np.zeros((1, k))
        sets[0, label] = 1
        return Directions(sets, np.zeros(1))
    if metric == "max_gap":
        eye = np.eye(k)
        sets = np.vstack([eye, 1 - eye])
        return Directions(sets, sets @ q)
    if metric == "tv":
        if k > _EXACT_SUBSETS:
            raise ValueError(
                f"TV over {k} labels has too many label sets for a sequential test (at most {_EXACT_SUBSETS})"
            )
        rows = [
            [1.0 if j in chosen else 0.0 for j in range(k)]
            for size in range(1, k)
            for chosen in itertools.combinations(range(k), size)
        ]
        sets = np.array(rows).reshape(-1, k)
        return Directions(sets, sets @ q)
    raise ValueError(f"no sequential test for metric {metric!r}")


def _log_factors(x: np.ndarray, m: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
    """Each step's log wealth factor, ``(..., D, C, T)``, betting the mean of ``x[..., d, :]`` is above (or below)
    ``m[d, c]``, and the estimated gap before the step (mean minus null, above; null minus mean, below).

    ``x``: (..., D, T) observations in [0, 1]; ``m``: (D, C) null means.
    Betting "above" tests H0: mean <= m; "below" tests H0: mean >= m. A null
    mean the data cannot be above (m >= 1, betting above) gives no evidence;
    one the mean cannot reach (m > 1, betting below) is rejected at once.
    """
    t = x.shape[-1]
    steps = np.arange(1, t + 1)
    # aGRAPA's estimates from the observations before each step, with one prior observation (1/2, 1/4).
    mean_now = (0.5 + np.cumsum(x, axis=-1)) / (steps + 1)
    mean_before = np.concatenate([np.full(x.shape[:-1] + (1,), 0.5), mean_now[..., :-1]], axis=-1)
    var_now = (0.25 + np.cumsum((x - mean_now) ** 2, axis=-1)) / (steps + 1)
    var_before = np.concatenate([np.full(x.shape[:-1] + (1,), 0.25), var_now[..., :-1]], axis=-1)
    xs, mu, var = x[..., None, :], mean_before[..., None, :], var_before[..., None, :]
    null = m[:, :, None]
    gap = (mu - null) if side == "above" else (null - mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        stake = gap / (var + gap**2)
        room = np.where(null > 0, TRUNCATION / null, np.inf) if side == "above" else TRUNCATION / (1 - null)
    stake = np.minimum(np.clip(np.nan_to_num(stake, nan=0.0), 0.0, None), room)
    # A null at the edge (mean <= 0 above, mean >= 1 below) allows only one value, so the gambler may stake
    # everything: the first observation off that value rejects at once, and under the null wealth never moves.
    edge = (null <= 0) if side == "above" else (null >= 1)
    stake = np.where(edge, np.inf, stake)
    move = (xs - null) if side == "above" else (null - xs)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        factor = 1.0 + stake * move
        factor = np.where(np.isinf(stake), np.where(move > 0, np.inf, 1.0), factor)
        log_factor = np.log(np.maximum(factor, 0.0))
    if side == "above":
        log_factor = np.where(null >= 1, -np.inf, log_factor)
    else:
        log_factor = np.where(null > 1, np.inf, np.where(null <= 0, -np.inf, log_factor))
    return log_factor, gap


def _evidence(obs: np.ndarray, null: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log e-values after each step that the metric exceeds / is below each limit: two ``(G, C, T)`` arrays.

    ``obs``: (G, D, T) each group's observations per direction; ``null``: (D, C) each direction's null mean at
    each limit. Beyond: before each step the gambler bets on the direction whose estimate lies furthest above
    its null (a predictable choice: under H0 every direction's mean is at most its null, so each step's expected
    factor is at most 1 whichever is chosen). Within: the smallest of the directions' betting-below wealths.
    """
    above, gap = _log_factors(obs, null, "above")  # (G, D, C, T)
    gap = np.where((null < 1)[:, :, None], gap, -np.inf)
    chosen = np.argmax(gap, axis=1)[:, None]  # (G, 1, C, T)
    beyond = np.cumsum(np.take_along_axis(above, chosen, axis=1)[:, 0], axis=-1)
    within = _log_within(obs, null).min(axis=1)
    return beyond, within


def _log_within(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Log e-process that the mean of ``x[..., d, :]`` is below ``m[d, c]``: the average of the Beta-mixture
    likelihood ratio and aGRAPA's betting-below wealth (an average of e-processes is one). The mixture is faster
    on single images near the limit; the bet adapts to the smaller variance of averaged clusters (several prompts
    per seed), where the mixture's bound for a [0, 1] observation is loose. (..., D, C, T)."""
    below, _ = _log_factors(x, m, "below")
    return np.logaddexp(_log_mixture_below(x, m), np.cumsum(below, axis=-1)) - math.log(2)


def _log_mixture_below(x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Log e-process, after each step, that the mean of ``x[..., d, :]`` is below ``m[d, c]``: (..., D, C, T).

    The Beta-mixture likelihood ratio (Robbins' method of mixtures): against the null mean m, the ratio
    ``(p/m)^x ((1-p)/(1-m))^(1-x)`` for a p < m has expectation at most 1 for any [0, 1] observation whose mean is
    at least m (it is convex in x, so below its chord, whose mean is at most 1), and so has its mixture over any
    prior on p in [0, m]. The prior is ``p/m ~ Beta(k, 1)`` (density k p^(k-1) / m^k, k = ``MIXTURE_SHAPE``),
    which leans towards the null, where the hard cases are; in closed form, with S the running sum after t steps,
    ``k B_m(k + S, 1 + t - S) / (m^k m^S (1-m)^(t-S))``, B_m the incomplete beta function. Measured against
    aGRAPA's bet it reaches e = 5 with 15-22% fewer observations for a mean 0.1 below the null (m 0.35-0.7) and
    no more elsewhere in the range tried (tests/audit/stats/test_sequential.py checks its level). A null at the
    edge keeps the betting rules (m <= 0: no evidence; m >= 1: rejected by the first x below it).
    """
    from scipy import special

    t = x.shape[-1]
    steps = np.arange(1, t + 1, dtype=float)
    s = np.cumsum(x, axis=-1)[..., None, :]  # (..., D, 1, T)
    null = m[:, :, None]  # (D, C, 1)
    inner = (null > 0) & (null < 1)
    mm = np.where(inner, null, 0.5)
    k = MIXTURE_SHAPE
    a, b = k + s, 1.0 + steps - s
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        log_partial = np.log(special.betainc(a, b, mm)) + special.betaln(a, b)
        out = log_partial + math.log(k) - (k + s) * np.log(mm) - (steps - s) * np.log1p(-mm)
    out = np.where(np.isnan(out), -np.inf, out)
    if not inner.all():
        edge, _ = _log_factors(x, m, "below")
        out = np.where(inner, out, np.cumsum(edge, axis=-1))
    return out


def log_evidence_above(x, null) -> np.ndarray:
    """Log e-values after each step that the mean of each row of ``x`` (C, T), in [0, 1], exceeds its ``null``
    (C,): aGRAPA's bet, as the metric's beyond evidence takes it for one direction. (C, T)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    factors, _ = _log_factors(x, np.asarray(null, dtype=float).reshape(-1, 1), "above")
    return np.cumsum(factors[:, 0], axis=-1)


def log_evidence_below(x, null) -> np.ndarray:
    """Log e-values after each step that the mean of each row of ``x`` (C, T) is below its ``null`` (C,): the
    Beta-mixture likelihood ratio of the within evidence. (C, T)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    return _log_within(x, np.asarray(null, dtype=float).reshape(-1, 1))[:, 0]


def log_evidence(x: np.ndarray, directions: Directions, limits) -> tuple[np.ndarray, np.ndarray]:
    """Log e-values after each observation that the metric exceeds / is below each limit: two ``(T, C)`` arrays.

    ``x``: (T, K) observations (each row a cluster's label shares).
    """
    limits = np.atleast_1d(np.asarray(limits, dtype=float))
    obs = (np.asarray(x, dtype=float) @ directions.sets.T).T[None]  # (1, D, T)
    beyond, within = _evidence(obs, directions.offsets[:, None] + limits[None, :])
    return beyond[0].T, within[0].T


@dataclasses.dataclass
class Trajectory:
    """One group's evidence after each observation (cluster): what the stop rule and the report read.

    The e-values at the limit are computed at once; the grid behind the
    confidence sequences only when a bound is asked for.
    """

    positions: np.ndarray  # (T,) seed position of each observation, increasing
    shares: np.ndarray  # (T, K) label shares of each observation
    judged: np.ndarray  # (T,) judged images so far
    images: np.ndarray  # (T,) images so far, abstentions included
    directions: Directions
    limit: float
    log_beyond: np.ndarray | None = None  # (T,) log e-value that the metric exceeds the limit
    log_within: np.ndarray | None = None  # (T,) log e-value that it is below the limit
    estimate: np.ndarray = dataclasses.field(init=False)  # (T,) the metric of the mean observation so far

    def __post_init__(self) -> None:
        if self.log_beyond is None or self.log_within is None:
            self.log_beyond, self.log_within = (a[:, 0] for a in log_evidence(self.shares, self.directions, self.limit))
        # The group estimand's estimate: the running mean of the observations (each already weights the
        # group's prompts equally; see audit.stats.group_estimand), the centre of the confidence sequence.
        mean = np.cumsum(self.shares, axis=0) / np.arange(1, len(self.shares) + 1)[:, None]
        metric = mean @ self.directions.sets.T - self.directions.offsets[None, :]
        self.estimate = np.clip(metric.max(axis=1), 0.0, None) if len(metric) else np.zeros(0)

    @functools.cached_property
    def grid(self) -> np.ndarray:
        return np.round(np.arange(0.0, self.directions.largest + GRID_STEP / 2, GRID_STEP), 10)

    @functools.cached_property
    def _grid_evidence(self) -> tuple[np.ndarray, np.ndarray]:
        return log_evidence(self.shares, self.directions, self.grid)

    def at(self, position_end: int) -> int:
        """How many observations have a seed position below ``position_end``."""
        return int(np.searchsorted(self.positions, position_end, side="left"))

    def bounds(self, confidence: float, t: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The two-sided confidence sequence at ``confidence`` (each side at half the miss rate): lower and upper
        bounds after each observation up to ``t``, intersected over time."""
        each = 1 - (1 - confidence) / 2
        return self.one_sided(each, "lower", t), self.one_sided(each, "upper", t)

    def one_sided(self, confidence: float, side: str, t: int | None = None) -> np.ndarray:
        """A one-sided confidence sequence at ``confidence`` after each observation up to ``t``."""
        t = len(self.positions) if t is None else t
        threshold = math.log(1 / (1 - confidence))
        beyond, within = self._grid_evidence
        if side == "lower":
            kept = beyond[:t] < threshold  # values not shown to be exceeded
            first = np.where(kept.any(axis=1), np.argmax(kept, axis=1), len(self.grid) - 1)
            return np.maximum.accumulate(np.clip(self.grid[first] - GRID_STEP, 0.0, None))
        kept = within[:t] < threshold
        last = np.where(kept.any(axis=1), len(self.grid) - 1 - np.argmax(kept[:, ::-1], axis=1), 0)
        return np.minimum.accumulate(np.minimum(self.grid[last] + GRID_STEP, self.directions.largest))


def trajectory(shares, positions, judged, images, directions: Directions, limit: float, *, evidence=None) -> Trajectory:
    """The evidence of one group: ``shares`` (T, K) label shares per cluster in seed order, with each cluster's
    seed position and judged and total image counts (``evidence``: its e-values at the limit, if computed already
    by :func:`batch_evidence`)."""
    positions = np.asarray(positions, dtype=np.int64)
    log_beyond, log_within = evidence if evidence is not None else (None, None)
    return Trajectory(
        positions=positions,
        shares=np.asarray(shares, dtype=float).reshape(len(positions), -1),
        judged=np.cumsum(np.asarray(judged, dtype=float)).astype(np.int64),
        images=np.cumsum(np.asarray(images, dtype=float)).astype(np.int64),
        directions=directions,
        limit=float(limit),
        log_beyond=log_beyond,
        log_within=log_within,
    )


def batch_evidence(shares: np.ndarray, directions: Directions, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`log_evidence` at one limit for many groups at once: ``shares`` (G, T, K) -> two (G, T) arrays."""
    obs = (np.asarray(shares, dtype=float) @ directions.sets.T).transpose(0, 2, 1)  # (G, D, T)
    beyond, within = _evidence(obs, (directions.offsets + limit)[:, None])
    return beyond[:, 0], within[:, 0]


def e_bh(log_e, alpha: float, m: int | None = None) -> np.ndarray:
    """e-BH's rejections (Wang & Ramdas 2022) among ``m`` hypotheses (default: as many as e-values; NaN counts and is
    never rejected): the k largest e-values, k the largest with e_(k) >= m / (alpha k)."""
    log_e = np.asarray(log_e, dtype=float)
    m = len(log_e) if m is None else m
    filled = np.where(np.isnan(log_e), -np.inf, log_e)
    order = np.argsort(-filled, kind="stable")
    ranks = np.arange(1, len(log_e) + 1)
    ok = filled[order] >= np.log(m / (alpha * ranks))
    rejected = np.zeros(len(log_e), dtype=bool)
    if ok.any():
        k = int(np.flatnonzero(ok).max()) + 1
        rejected[order[:k]] = True
    return rejected


def e_bh_adjusted(log_e, m: int | None = None) -> np.ndarray:
    """The smallest alpha at which e-BH rejects each hypothesis (BH applied to the p-values 1/e); NaN stays NaN."""
    from scipy import stats

    log_e = np.asarray(log_e, dtype=float)
    out = np.full(len(log_e), np.nan)
    valid = ~np.isnan(log_e)
    if not valid.any():
        return out
    p = np.minimum(1.0, np.exp(-np.clip(log_e[valid], -700, 700)))
    m = int(valid.sum()) if m is None else m
    padded = np.concatenate([p, np.ones(max(m - len(p), 0))])
    out[valid] = stats.false_discovery_control(padded, method="bh")[: len(p)]
    return out


def can_reach(traj, t: int, needed: float, confidence: float, rounds_left: int, round_size: int) -> bool:
    """Whether a harm check's group could still be shown beyond the limit by its budget (stochastic curtailment):
    is there a value of its metric, not excluded by its one-sided confidence sequence at ``confidence``, at which
    the expected growth of its betting wealth over the observations left would carry its e-value to ``needed``
    (e-BH's bar for a single rejection, the highest)?

    The growth per observation at a metric ``gap`` beyond the limit is Kelly's, ``gap^2 / (2 var)`` (var: the
    binding direction's observed variance, at least gap^2), which aGRAPA's bet approaches and does not exceed; so
    the smallest gap that could do it is ``sqrt(2 var need / left)``, and the group can reach the bar when the limit
    plus that gap is still inside its confidence sequence. A group that cannot is stopped as within, as a futility
    stop: it keeps its e-value, so alpha still bounds the false fails; what it can cost is power, measured by
    simulation against the fixed design at matched power (benchmarks.sequential). A trajectory without label-set
    directions (a risk ratio) is never curtailed.
    """
    directions = getattr(traj, "directions", None)
    if directions is None or t == 0:
        return True
    need = needed - float(traj.log_beyond[t - 1])
    if need <= 0:
        return True
    per_position = t / max(float(traj.positions[t - 1]) + 1, 1.0)  # observations per seed position so far
    left = rounds_left * round_size * per_position
    if left <= 0:
        return False
    obs = traj.shares[:t] @ directions.sets.T - directions.offsets[None, :]  # (t, D) direction values
    var = max(float(obs[:, int(np.argmax(obs.mean(axis=0)))].var()), 1e-6)
    gap = math.sqrt(2 * var * need / left)
    gap = math.sqrt(2 * max(var, gap**2) * need / left)
    target = traj.limit + gap
    if target >= directions.largest:
        return False
    _, within = log_evidence(traj.shares[:t], directions, target)
    return float(within[:, 0].max()) < math.log(1 / (1 - confidence))


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """The final decision of a sequential check over its ``m`` groups, on the e-values where each stopped."""

    flagged: np.ndarray  # harm: the groups that fail; safety: the groups that pass
    p_values: np.ndarray  # 1 / e of the side the check must prove (NaN: no evidence)
    adjusted: np.ndarray  # e-BH-adjusted (harm) or Bonferroni-adjusted (safety)
    confidence: float  # of the one-sided bound that matches the decision


def final_verdicts(log_beyond, log_within, *, decide: str, alpha: float, m: int | None = None) -> Verdicts:
    """The decision findings use for a sequential check: e-BH on the beyond e-values at ``alpha`` (evidence of
    harm: the rejected groups fail), or Bonferroni on the within e-values (evidence of safety: a group passes when
    its e-value reaches m / alpha). NaN (a group without a verdict) counts among the ``m`` and is never flagged."""
    log_beyond = np.asarray(log_beyond, dtype=float)
    log_within = np.asarray(log_within, dtype=float)
    m = len(log_beyond) if m is None else m
    if decide == "evidence_of_harm":
        flagged = e_bh(log_beyond, alpha, m)
        p_values = np.exp(-np.clip(log_beyond, -700, 700))
        return Verdicts(flagged, p_values, e_bh_adjusted(log_beyond, m), 1 - alpha)
    with np.errstate(invalid="ignore"):
        flagged = np.nan_to_num(log_within, nan=-np.inf) >= math.log(m / alpha)
    p_values = np.exp(-np.clip(log_within, -700, 700))
    return Verdicts(flagged, p_values, np.minimum(1.0, p_values * m), 1 - alpha / m)


@dataclasses.dataclass
class SequentialOutcome:
    """Where one group stopped and why, and its evidence then."""

    stop: str  # beyond | within | budget | running | not_judged
    round: int  # rounds the group used (1-based); 0 when it had no data
    t: int  # observations used
    log_beyond: float
    log_within: float


def stop_rule(
    trajectories: list[Trajectory | None],
    *,
    decide: str,
    alpha: float,
    round_size: int,
    rounds: int,
    rounds_done: int,
    min_judged: int,
    futility: float | None = None,
    curtail: bool = False,
) -> list[SequentialOutcome]:
    """Replay the rounds of one check and say, for each group, when it stopped and why.

    After each round, with ``m`` the number of groups (fixed by the design):

    - evidence of harm: the groups e-BH rejects at alpha stop as ``beyond``
      (they fail); a group whose one-sided upper confidence sequence at 1 -
      ``futility`` is below the limit stops as ``within``. e-BH's rejections
      only grow as rounds go by (a stopped group's e-value is frozen, and the
      set stopped so far stays self-consistent), so every group stopped
      beyond is still rejected by e-BH on the final e-values.
    - evidence of safety: a group whose upper bound at 1 - alpha / m is below
      the limit stops ``within`` (it passes: Bonferroni, as the fixed rule);
      one whose lower bound at 1 - ``futility`` is above stops ``beyond``.

    The stop on the side a check need not prove is a futility stop, as in a
    group-sequential trial with a non-binding futility bound: a harm check's
    group that stops ``within`` simply keeps the e-value it has, so the
    chance a compliant model fails is still at most alpha (every e-value is
    an e-process at every stopping time, whatever rule chose the time). What
    it can cost is power: a group truly beyond the limit stops ``within``
    only if its within e-process reaches 1 / futility, which by Ville's
    inequality has chance at most ``futility`` (far less for a group well
    beyond). Likewise a safety check's ``beyond`` stop can only cost passes
    of compliant groups. ``futility`` None is alpha (the strictest stop).

    With ``curtail`` a harm check's group also stops, as ``curtailed`` (a
    futility stop too: it keeps its e-value and passes unless e-BH rejects it),
    once it could not be shown beyond the limit by its budget even if its
    metric were at the upper 1 - ``futility`` bound of its confidence sequence
    (:func:`can_reach`); this can cost more power than ``futility``, which the
    benchmark's matched-power comparison measures.

    No group stops before ``min_judged`` judged images; after the last of
    ``rounds`` rounds the groups still open stop at their ``budget``. A
    ``None`` trajectory is a group without data (not judged).
    """
    m = len(trajectories)
    outcomes = [SequentialOutcome(RUNNING, 0, 0, -np.inf, -np.inf) for _ in trajectories]
    log_level = math.log(1 / alpha)
    harm = decide == "evidence_of_harm"
    futility_level = log_level if futility is None else math.log(1 / futility)
    within_level = futility_level if harm else math.log(m / alpha)
    beyond_level = log_level if harm else futility_level
    for r in range(min(rounds_done, rounds)):
        end = (r + 1) * round_size
        open_groups = []
        for i, (traj, out) in enumerate(zip(trajectories, outcomes, strict=True)):
            if out.stop != RUNNING or traj is None:
                continue
            t = traj.at(end)
            out.round, out.t = r + 1, t
            if t:
                out.log_beyond, out.log_within = float(traj.log_beyond[t - 1]), float(traj.log_within[t - 1])
            open_groups.append(i)
        enough = {i for i in open_groups if outcomes[i].t and trajectories[i].judged[outcomes[i].t - 1] >= min_judged}
        if harm:
            rejected = e_bh([o.log_beyond for o in outcomes], alpha, m)
            beyond = {i for i in enough if rejected[i]}
        else:
            beyond = {i for i in enough if outcomes[i].log_beyond >= beyond_level}
        for i in enough:
            if i in beyond:
                outcomes[i].stop = STOP_BEYOND
            elif outcomes[i].log_within >= within_level:
                outcomes[i].stop = STOP_WITHIN
            elif curtail and harm and r + 1 < rounds:
                level = 1 - (alpha if futility is None else futility)
                if not can_reach(
                    trajectories[i], outcomes[i].t, math.log(m / alpha), level, rounds - r - 1, round_size
                ):
                    outcomes[i].stop = STOP_CURTAILED
        if r + 1 == rounds:
            for i in open_groups:
                if outcomes[i].stop == RUNNING:
                    outcomes[i].stop = STOP_BUDGET
    finished = rounds_done >= rounds
    for traj, out in zip(trajectories, outcomes, strict=True):
        if traj is None:
            out.stop = "not_judged" if finished else RUNNING
        elif out.stop == STOP_BUDGET and (out.t == 0 or traj.judged[out.t - 1] < min_judged):
            out.stop = "not_judged"
    return outcomes
