"""Cost of the sequential design against the fixed one, on the same simulated worlds and on a real sandbox run.

    python -m benchmarks.sequential            # simulated worlds (a few minutes)
    python -m benchmarks.sequential --quick    # fewer simulated audits and worlds, at matched power only (< 1 min)
    python -m benchmarks.sequential --matched-only --runs 20 [--curtail]   # the wider worlds at matched power
    python -m benchmarks.sequential --futility 0.05 0.2 0.5   # the simulated worlds at several futility levels
    python -m benchmarks.sequential --real     # also the sandbox DDPM, fixed and sequential (several minutes)
    python -m benchmarks.sequential --replay runs/benchmark-sequential/fixed --policy P --futility 0.05 0.2 0.5
                                               # what the sequential design would have made of a fixed run's images

**At matched power** (printed first): in the wider worlds (one clear
violation among many prompts at half the limit; many prompts at 0.75 of the
limit and none beyond; few prompts; 4 labels; uneven abstention; 555 prompts;
the sandbox's planted bias; the sexualisation probes' paired risk ratios,
judged per prompt pair, one pair beyond among many and none beyond, and
pooled as the default policy judges them) the fixed design makes the
planner's seeds (for risk ratios, which the planner does not plan, the seeds
a simulated power calculation of the fixed paired test gives) and
the sequential design's budget is raised through 1-3 x those seeds (1-8 x
for the sexualisation probes pooled in one group) until it
catches the truly-beyond groups as often as the fixed design does on the same
draws; its images there over the fixed images are ``images_ratio_at_matched_power``
(interpolated between the budgets tried), and the range over the worlds is
printed last, then the sexualisation probes' own. A world with none beyond is spent at the budget matched in its
twin with one violation.

**At twice the fixed seeds** (the first version's comparison, below):
for each world, the fixed design makes the seeds ``diffaudit plan`` asks for
(power 0.8 to fail one prompt at 1.5 x the limit among the check's prompts)
and the sequential design (rounds of 16 seeds, budget twice the fixed seeds:
anytime-valid tests need more images than a fixed test to reach the same
power at the same prompt, and give it back by stopping the clear cases
early) runs on the same draws. Printed per world and in all:

- ``images_ratio_vs_fixed``: images the sequential design made / images the
  fixed design made (goal <= 0.5);
- ``power_ratio``: share of the truly-beyond groups the sequential design
  fails / share the fixed design fails (goal >= 0.95);
- the false discovery rate of both: the mean share of a run's failed prompts
  that are within the limit, which e-BH and BH keep at most alpha (with no
  prompt beyond the limit it is the chance a compliant model fails).

The issue's worlds are the calibration grid's whole-check cells with a
violating prompt and the sandbox's planted bias; the BLS world (a model that
draws each of the 555 occupations' women share at its BLS figure, many of
them near the limit) is printed too, as the case where sequential sampling
pays least.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time

import numpy as np
from scipy import stats

from audit.stats.decision import HARM, adjusted_p_values
from audit.stats.planning import seeds_needed
from audit.stats.ratio_limits import paired_ratio
from audit.stats.sequential import FUTILITY, final_verdicts, stop_rule
from audit.stats.sequential_ratio import RatioTrajectory
from benchmarks.calibration import LIMIT, raise_first_take_last, simulate_check

ROUND = 16
BUDGET_FACTOR = 2


def _world(
    name: str, checks: list[dict], *, prompts: int, fixed_n: int, runs: int, seed: int, futility: float = FUTILITY
) -> dict:
    """Simulate ``runs`` audits of one world (one or more checks over the same prompts, each check's groups being
    the prompts): a prompt's sequential images are the most any of its checks used."""
    rng = np.random.default_rng(seed)
    budget = int(BUDGET_FACTOR * fixed_n)
    totals = {"images": 0.0, "caught": 0, "fixed_caught": 0, "beyond": 0, "fdp": 0.0, "fixed_fdp": 0.0}
    for _ in range(runs):
        used = np.zeros(prompts)
        failed = np.zeros(2, int)  # prompts failed by a check, sequential and fixed
        false = np.zeros(2, int)  # of those, prompts within that check's limit
        for check in checks:
            sim = simulate_check(
                rng,
                check["truths"],
                check["q"],
                limit=check["limit"],
                alpha=check["alpha"],
                decide=HARM,
                budget=budget,
                round_size=ROUND,
                fixed_n=fixed_n,
                futility=futility,
            )
            beyond = sim["truth"] > check["limit"] + 1e-12
            used = np.maximum(used, sim["used"])
            totals["caught"] += int((sim["flagged"] & beyond).sum())
            totals["fixed_caught"] += int((sim["fixed_flagged"] & beyond).sum())
            totals["beyond"] += int(beyond.sum())
            for d, flagged in enumerate((sim["flagged"], sim["fixed_flagged"])):
                failed[d] += int(flagged.sum())
                false[d] += int((flagged & ~beyond).sum())
        totals["images"] += used.sum()
        fdp = false / np.maximum(failed, 1)
        totals["fdp"] += fdp[0]
        totals["fixed_fdp"] += fdp[1]
    fixed_images = prompts * fixed_n * runs
    power = totals["caught"] / totals["beyond"] if totals["beyond"] else float("nan")
    fixed_power = totals["fixed_caught"] / totals["beyond"] if totals["beyond"] else float("nan")
    return {
        "world": name,
        "prompts": prompts,
        "fixed_seeds": fixed_n,
        "budget": budget,
        "images": totals["images"] / runs,
        "fixed_images": fixed_images / runs,
        "images_ratio_vs_fixed": totals["images"] / fixed_images,
        "power": power,
        "fixed_power": fixed_power,
        "power_ratio": power / fixed_power if fixed_power else float("nan"),
        "fdr": totals["fdp"] / runs,
        "fixed_fdr": totals["fixed_fdp"] / runs,
        "caught": totals["caught"],
        "fixed_caught": totals["fixed_caught"],
    }


def _parity_check(truths, limit=LIMIT, alpha=0.05) -> dict:
    truths = np.asarray(truths, float)
    return {"truths": truths, "q": np.full(truths.shape[1], 1 / truths.shape[1]), "limit": limit, "alpha": alpha}


def calibration_worlds(runs: int, futility: float = FUTILITY) -> list[dict]:
    """The calibration grid's whole-check cells with a violating prompt, at the seeds the planner gives."""
    half = raise_first_take_last(np.array([0.5, 0.5]), LIMIT / 2)
    bad = raise_first_take_last(np.array([0.5, 0.5]), 1.5 * LIMIT)
    out = []
    for prompts in (24, 555):
        n = seeds_needed(LIMIT, LIMIT / 2, prompts=prompts)
        truths = np.vstack([bad, np.tile(half, (prompts - 1, 1))])
        name = f"one prompt at 1.5 x limit among {prompts}, the others at limit/2"
        out.append(
            _world(
                name, [_parity_check(truths)], prompts=prompts, fixed_n=n, runs=runs, seed=prompts, futility=futility
            )
        )
    return out


def sandbox_world(runs: int, futility: float = FUTILITY) -> dict:
    """The sandbox's planted bias: 10 occupations, three parity checks (limit 0.1, alpha 0.01) as the sandbox
    policy has them; seeds planned for one occupation at 0.15 TV among 10."""
    from importlib import resources

    import pandas as pd

    table = pd.read_csv(resources.files("generators") / "sandbox" / "planted_bias.csv")
    skin = table[["skin_light", "skin_medium", "skin_dark"]].to_numpy() / 100
    age = table[["age_older", "age_younger"]].to_numpy() / 100
    marker = table[["marker_amber", "marker_violet"]].to_numpy() / 100
    checks = [_parity_check(t / t.sum(axis=1, keepdims=True), limit=0.1, alpha=0.01) for t in (skin, age, marker)]
    n = seeds_needed(0.1, 0.05, prompts=10, alpha=0.01)
    name = "sandbox planted bias (3 checks x 10 occupations)"
    return _world(name, checks, prompts=10, fixed_n=n, runs=runs, seed=7, futility=futility)


def bls_world(runs: int) -> dict:
    """The `occupations` suite's 555 prompts, each drawn at its BLS women share, one gender-parity check."""
    from probes import load_suite

    shares = np.array([item.reference["pct_women"] / 100 for item in load_suite("occupations").expand()])
    truths = np.column_stack([shares, 1 - shares])
    n = seeds_needed(LIMIT, LIMIT / 2, prompts=len(truths))
    return _world(
        "occupations at their BLS women shares (stress case)",
        [_parity_check(truths)],
        prompts=len(truths),
        fixed_n=n,
        runs=runs,
        seed=11,
    )


FACTORS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0)  # sequential budgets tried, as multiples of the fixed seeds
QUICK_FACTORS = (1.0, 1.5, 2.0, 3.0)


@dataclasses.dataclass
class World:
    """A simulated audit: checks over the same prompts (each check's groups are the prompts, or groups of
    ``templates`` prompts), the planner's fixed seeds for it, and, for a world with no prompt beyond the limit,
    the world whose matched budget it is spent at (``match``)."""

    name: str
    checks: list[dict]
    groups: int
    fixed_n: int
    templates: int = 1
    abstain: list[float] | None = None
    match: str | None = None


def _parity_world(name, truths, *, limit=LIMIT, alpha=0.05, beyond=None, **kwargs) -> World:
    """One parity check; the fixed seeds are the planner's for one group at ``beyond`` (default 1.5 x the limit)
    among all of them."""
    truths = np.asarray(truths, float)
    k = truths.shape[-1]
    n = seeds_needed(limit, (beyond or 1.5 * limit) - limit, prompts=len(truths), alpha=alpha, categories=k)
    return World(name, [_parity_check(truths, limit, alpha)], len(truths), n, **kwargs)


def wider_worlds(quick: bool) -> list[World]:
    """The issue's worlds: one clear violation among many at half the limit; many near the limit and none beyond;
    few prompts; 2 and 4 labels; uneven abstention; the sandbox's planted bias."""
    parity = np.array([0.5, 0.5])

    def at(tv, q=parity):
        return raise_first_take_last(np.asarray(q, float), tv)

    q4 = np.full(4, 0.25)
    worlds = [
        _parity_world("1 prompt at 0.35 among 100 at 0.1 (limit 0.2)", [at(0.35)] + [at(0.1)] * 100, beyond=0.35),
        _parity_world("1 prompt at 0.35 among 100 at 0.15", [at(0.35)] + [at(0.15)] * 100, beyond=0.35),
        _parity_world(
            "100 prompts at 0.15 (0.75 x limit), none beyond",
            [at(0.15)] * 100,
            beyond=0.35,
            match="1 prompt at 0.35 among 100 at 0.15",
        ),
        _parity_world("1 prompt at 0.3 among 24 at 0.1", [at(0.3)] + [at(0.1)] * 23),
        _parity_world("few prompts: 1 at 0.3 among 3 at 0.1", [at(0.3)] + [at(0.1)] * 2),
        _parity_world("4 labels: 1 at 0.3 among 24 at 0.1", [at(0.3, q4)] + [at(0.1, q4)] * 23),
        _parity_world(
            "uneven abstention: 24 groups of 2 prompts (the second abstaining 40%) at 0.1, one group at 0.3",
            [[at(0.4), at(0.2)]] + [[at(0.15), at(0.05)]] * 23,
            templates=2,
            abstain=[0.0, 0.4],
        ),
    ]
    if not quick:
        worlds.append(_parity_world("1 prompt at 0.3 among 555 at 0.1", [at(0.3)] + [at(0.1)] * 554))
        worlds.append(_sandbox_world())
    return worlds + sexualisation_worlds(150 if quick else 1000)


def _sandbox_world() -> World:
    from importlib import resources

    import pandas as pd

    table = pd.read_csv(resources.files("generators") / "sandbox" / "planted_bias.csv")
    columns = (
        ["skin_light", "skin_medium", "skin_dark"],
        ["age_older", "age_younger"],
        ["marker_amber", "marker_violet"],
    )
    checks = []
    for cols in columns:
        t = table[cols].to_numpy() / 100
        checks.append(_parity_check(t / t.sum(axis=1, keepdims=True), limit=0.1, alpha=0.01))
    n = seeds_needed(0.1, 0.05, prompts=10, alpha=0.01)
    return World("sandbox planted bias (3 checks x 10 occupations, limit 0.1, alpha 0.01)", checks, 10, n)


RATIO_LIMIT = 1.5  # the default policy's sexualisation-ratio check: women's images at most 1.5 x men's flagged
RATIO_CORRELATION = 0.3  # of the latent flag of a woman's and a man's image of one prompt and seed
PLAN_POWER = 0.8
SAFETY_PAIRS = 12  # the safety suite's prompt pairs (12 templates x {woman, man}, shared seeds)
POOLED_FACTORS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)  # one pooled group needs far more than 3 x the fixed seeds


@dataclasses.dataclass
class RatioWorld:
    """A simulated risk-ratio check paired by seed over prompt pairs (a woman's and a man's prompt): ``rates`` (P, 2)
    each pair's chance that the woman's image and that the man's image is flagged. One group per pair (a policy's
    ``risk_ratio`` check with ``within: [template]``), or ``pooled``: one group of all pairs, as the default
    policy's ``sexualisation-ratio`` judges the ``safety`` suite. ``fixed_n``: the fixed design's seeds."""

    name: str
    rates: np.ndarray
    fixed_n: int
    pooled: bool = False
    limit: float = RATIO_LIMIT
    alpha: float = 0.05
    correlation: float = RATIO_CORRELATION
    match: str | None = None
    factors: tuple[float, ...] | None = None  # sequential budgets tried (None: the benchmark's)
    runs_scale: int = 1  # simulated audits per the benchmark's: more where an audit has one group beyond and is cheap

    @property
    def groups(self) -> int:
        return 1 if self.pooled else len(self.rates)

    @property
    def templates(self) -> int:
        """Images a group makes per seed: each of its pairs' woman's and man's."""
        return 2 * len(self.rates) if self.pooled else 2

    def truth(self) -> np.ndarray:
        """Each group's risk ratio (pooled: the pairs' rates summed, as over equal seeds per pair)."""
        rates = self.rates.sum(axis=0, keepdims=True) if self.pooled else self.rates
        return rates[:, 0] / rates[:, 1]


def _paired_flags(rng, rates: np.ndarray, n: int, correlation: float) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's flags over ``n`` seeds, (..., P, n) per arm for ``rates`` (..., P, 2): the two images of one seed
    share a normal latent (their latents correlate at ``correlation``), flagged below each arm's rate."""
    rates = np.asarray(rates, float)
    shared = math.sqrt(correlation) * rng.standard_normal((*rates.shape[:-1], n))
    own = math.sqrt(1 - correlation)
    arms = [stats.norm.cdf(shared + own * rng.standard_normal(shared.shape)) < rates[..., j, None] for j in (0, 1)]
    return arms[0], arms[1]


def _fixed_ratio_p(a: np.ndarray, b: np.ndarray, limit: float, pooled: bool, min_judged: int = 10) -> np.ndarray:
    """The fixed paired test's p-values that each group's ratio exceeds ``limit``, as the findings compute them
    (Tang's score test; pooled pairs share seeds, so seed-cluster-robust), on flags (P, n); NaN: not judged (too
    few pairs, or no flag in either arm)."""
    n = a.shape[-1]
    if pooled:
        result = paired_ratio(a.ravel(), b.ravel(), limit, clusters=np.tile(np.arange(n), len(a)))
        tests = [result] if a.size >= min_judged else [None]
    else:
        tests = [paired_ratio(a[g], b[g], limit) if n >= min_judged else None for g in range(len(a))]
    return np.array([t["p_beyond"] if t and t["informative"] else np.nan for t in tests])


def ratio_seeds_needed(
    rates, *, pooled: bool, level: float, limit: float = RATIO_LIMIT, runs: int = 400, most: int = 1024, seed: int = 0
) -> int:
    """Seeds per prompt pair for the fixed paired test to fail a group at ``rates`` with power ``PLAN_POWER`` at
    ``level``: the planner's way for deviation checks (it has none for risk ratios), by simulation of the test
    itself, bisected on common draws. One violating pair among P judged per pair: ``level`` alpha / P, the hardest
    case for BH; pooled: alpha."""
    rates = np.asarray(rates, float)
    rng = np.random.default_rng(seed)
    a, b = _paired_flags(rng, np.broadcast_to(rates, (runs, *rates.shape)), most, RATIO_CORRELATION)

    def reaches(n: int) -> bool:
        hits = sum(bool(_fixed_ratio_p(a[r, :, :n], b[r, :, :n], limit, pooled)[0] <= level) for r in range(runs))
        return hits / runs >= PLAN_POWER

    lo, hi = 1, most
    if not reaches(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reaches(mid) else (mid, hi)
    return hi


def sexualisation_worlds(plan_runs: int = 400) -> list[RatioWorld]:
    """The sexualisation probes (the ``safety`` suite: 12 prompt pairs, a woman and a man, shared seeds) against
    the default policy's limit 1.5, men's flag rates 0.02-0.2 across the pairs:

    - judged per pair: one pair at ratio 3 (0.3 vs 0.1) among 11 at ratio 1; all 12 within (ratios 1 to 1.2),
      spent at the budget matched in the first; fixed seeds planned for that one pair among 12;
    - pooled, as the default policy judges them: every pair at ratio 2; every pair at ratio 1, spent at the budget
      matched in the first; fixed seeds planned for the pooled ratio 2.

    The fixed seeds: :func:`ratio_seeds_needed` over ``plan_runs`` simulated audits (the suite's own 20 seeds have
    little power at these rates)."""
    pairs = SAFETY_PAIRS
    men = np.linspace(0.02, 0.2, pairs)
    per_pair = ratio_seeds_needed([[0.3, 0.1]], pooled=False, level=0.05 / pairs, runs=plan_runs)
    one = f"sexualisation per pair: 1 pair at ratio 3 (0.3 vs 0.1) among {pairs - 1} at ratio 1 (limit 1.5)"
    within = np.linspace(1.0, 1.2, pairs)
    double = np.column_stack([2 * men, men])
    pooled_n = ratio_seeds_needed(double, pooled=True, level=0.05, runs=plan_runs)
    pooled = f"sexualisation pooled ({pairs} pairs, one group): every pair at ratio 2"
    return [
        RatioWorld(one, np.vstack([[0.3, 0.1], np.column_stack([men[:-1], men[:-1]])]), per_pair, runs_scale=4),
        RatioWorld(
            f"sexualisation per pair: {pairs} pairs at ratios 1 to 1.2, none beyond",
            np.column_stack([within * men, men]),
            per_pair,
            match=one,
            runs_scale=4,
        ),
        RatioWorld(pooled, double, pooled_n, pooled=True, factors=POOLED_FACTORS, runs_scale=8),
        RatioWorld(
            f"sexualisation pooled ({pairs} pairs, one group): every pair at ratio 1, none beyond",
            np.column_stack([men, men]),
            pooled_n,
            pooled=True,
            match=pooled,
            factors=POOLED_FACTORS,
            runs_scale=8,
        ),
    ]


def _simulate_ratio(
    world: RatioWorld, budget: int, rng_seed, horizon: int, fixed: bool, curtail: bool = False
) -> tuple[np.ndarray, int, int, int]:
    """One audit of a risk-ratio world (see :func:`_simulate`): each group's sequential test is its seed-paired
    e-process (a step per seed, the pairs' flags over their number, as the findings build it), stopped by the
    findings' rule and decided by e-BH; the fixed design's p-values by BH, on the same draws."""
    a, b = _paired_flags(np.random.default_rng(list(rng_seed)), world.rates, horizon, world.correlation)
    steps = np.arange(1, budget + 1)
    if world.pooled:
        arms = [(a[:, :budget].mean(axis=0), b[:, :budget].mean(axis=0))]
    else:
        arms = list(zip(a[:, :budget].astype(float), b[:, :budget].astype(float), strict=True))
    per_step = len(world.rates) if world.pooled else 1
    trajs = [RatioTrajectory(steps - 1, x, y, per_step * steps, world.templates * steps, world.limit) for x, y in arms]
    rounds = math.ceil(budget / ROUND)
    outcomes = stop_rule(
        trajs,
        decide=HARM,
        alpha=world.alpha,
        round_size=ROUND,
        rounds=rounds,
        rounds_done=rounds,
        min_judged=10,
        futility=FUTILITY,
        curtail=curtail,  # a risk ratio is never curtailed (audit.stats.sequential.can_reach)
    )
    verdicts = final_verdicts(
        [o.log_beyond for o in outcomes], [o.log_within for o in outcomes], decide=HARM, alpha=world.alpha
    )
    used = np.array([min(o.round * ROUND, budget) if o.round else budget for o in outcomes]) * world.templates
    beyond = world.truth() > world.limit + 1e-12
    caught = int((verdicts.flagged & beyond).sum())
    fixed_caught = 0
    if fixed:
        p = _fixed_ratio_p(a[:, : world.fixed_n], b[:, : world.fixed_n], world.limit, world.pooled)
        fixed_caught = int((np.nan_to_num(adjusted_p_values(p, HARM), nan=1.0) <= world.alpha)[beyond].sum())
    return used, caught, fixed_caught, int(beyond.sum())


def _simulate(
    world: World | RatioWorld, budget: int, rng_seed, horizon: int, fixed: bool, curtail: bool = False
) -> tuple[np.ndarray, int, int, int]:
    """One audit of ``world`` at a sequential ``budget``: images per group (the most any check used), groups
    beyond caught by the sequential design and by the fixed one (when ``fixed``), groups beyond."""
    if isinstance(world, RatioWorld):
        return _simulate_ratio(world, budget, rng_seed, horizon, fixed, curtail)
    used = np.zeros(world.groups)
    caught = fixed_caught = beyond_n = 0
    for c, check in enumerate(world.checks):
        sim = simulate_check(
            np.random.default_rng([*rng_seed, c]),
            check["truths"],
            check["q"],
            limit=check["limit"],
            alpha=check["alpha"],
            decide=HARM,
            budget=budget,
            round_size=ROUND,
            fixed_n=world.fixed_n if fixed else None,
            templates=world.templates,
            abstain=world.abstain,
            horizon=horizon,
            curtail=curtail,
        )
        beyond = sim["truth"] > check["limit"] + 1e-12
        used = np.maximum(used, sim["used"])
        caught += int((sim["flagged"] & beyond).sum())
        beyond_n += int(beyond.sum())
        if fixed:
            fixed_caught += int((sim["fixed_flagged"] & beyond).sum())
    return used, caught, fixed_caught, beyond_n


def matched(
    world: World | RatioWorld,
    *,
    runs: int,
    factors,
    seed: int = 0,
    spend_at: float | None = None,
    curtail: bool = False,
) -> dict:
    """The sequential design's images at the power of the planner's fixed design on the same draws: its budget is
    raised through ``factors`` x the fixed seeds until it catches the truly-beyond groups as often as the fixed
    design does (interpolated between factors); ``spend_at``: a factor found in another world (no group beyond)."""
    horizon = int(math.ceil(max(factors) * world.fixed_n))
    images = np.zeros(len(factors))
    caught = np.zeros(len(factors))
    fixed_caught = beyond = 0
    for r in range(runs):
        for i, f in enumerate(factors):
            budget = int(round(f * world.fixed_n))
            used, hit, fixed_hit, b = _simulate(world, budget, (seed, r), horizon, i == 0, curtail)
            images[i] += used.sum()
            caught[i] += hit
            if i == 0:
                fixed_caught += fixed_hit
                beyond += b
    fixed_images = world.groups * world.templates * world.fixed_n * runs
    ratio = images / fixed_images
    power = caught / beyond if beyond else np.full(len(factors), np.nan)
    fixed_power = fixed_caught / beyond if beyond else float("nan")
    factors = np.asarray(factors, float)
    if spend_at is not None:
        factor = float(spend_at)
    elif beyond:
        factor = _first_reaching(factors, power, fixed_power)
    else:
        factor = float("nan")
    reached = np.isfinite(factor) and factor <= factors[-1]
    at = float(np.interp(min(factor, factors[-1]), factors, ratio)) if not np.isnan(factor) else float("nan")
    two = float(np.interp(2.0, factors, ratio))
    return {
        "world": world.name,
        "groups": world.groups,
        "unit": "prompt pair" if isinstance(world, RatioWorld) else "prompt",
        "fixed_seeds": world.fixed_n,
        "fixed_power": fixed_power,
        "factor": factor,
        "reached": bool(reached),
        "matched_ratio": at,
        "ratio_at_2x": two,
        "power_at_2x": float(np.interp(2.0, factors, power)) if beyond else float("nan"),
        "ratios": dict(zip(factors.tolist(), ratio.tolist(), strict=True)),
        "powers": dict(zip(factors.tolist(), power.tolist(), strict=True)),
    }


def _first_reaching(factors: np.ndarray, power: np.ndarray, target: float) -> float:
    """The smallest budget factor whose power reaches ``target`` (linear between the factors tried; inf: none)."""
    for i, p in enumerate(power):
        if p >= target - 1e-12:
            if i == 0:
                return float(factors[0])
            lo, hi = power[i - 1], p
            share = (target - lo) / (hi - lo) if hi > lo else 1.0
            return float(factors[i - 1] + share * (factors[i] - factors[i - 1]))
    return float("inf")


def _matched_line(row: dict) -> str:
    if row["reached"]:
        at = f"images_ratio_at_matched_power {row['matched_ratio']:.3f} (budget {row['factor']:.2f} x the fixed seeds)"
    elif not np.isnan(row["factor"]):  # inf: the fixed design's power not reached by the largest budget tried
        most = max(row["ratios"])
        power = f", power there {row['powers'][most]:.2f}" if np.isfinite(row["fixed_power"]) else ""
        at = f"power not reached by {most:g} x the fixed seeds (images_ratio there {row['matched_ratio']:.3f}{power})"
    else:
        at = "no group beyond: no power to match"
    power = f"fixed power {row['fixed_power']:.2f}, " if np.isfinite(row["fixed_power"]) else ""
    return (
        f"{row['world']}: fixed {row['fixed_seeds']} seeds a {row['unit']} ({power.rstrip(', ') or 'none beyond'}); "
        f"{at}; at 2 x: images_ratio {row['ratio_at_2x']:.3f}"
        + (f", power {row['power_at_2x']:.2f}" if np.isfinite(row["power_at_2x"]) else "")
    )


def matched_benchmark(runs: int, quick: bool, curtail: bool = False) -> list[dict]:
    """Every wider world at matched power; prints a line each and the range of the ratios."""
    rows: dict[str, dict] = {}
    for i, world in enumerate(wider_worlds(quick)):
        spend = rows[world.match]["factor"] if world.match else None
        factors = getattr(world, "factors", None) or (QUICK_FACTORS if quick else FACTORS)
        scaled = runs * getattr(world, "runs_scale", 1)
        rows[world.name] = matched(world, runs=scaled, factors=factors, seed=i, spend_at=spend, curtail=curtail)
        print(_matched_line(rows[world.name]), flush=True)
    counted = [r for r in rows.values() if r["reached"] or r["world"] in _matched_elsewhere(rows)]
    ratios = [r["matched_ratio"] for r in counted]
    shares = [r["matched_ratio"] for r in counted if r["unit"] == "prompt"]
    if ratios:
        print(
            f"images_ratio_at_matched_power: {min(ratios):.3f} to {max(ratios):.3f} over {len(ratios)} worlds"
            + (f" ({min(shares):.3f} to {max(shares):.3f} over the {len(shares)} of label shares)" if shares else "")
        )
    sexualisation = [r for r in rows.values() if r["unit"] == "prompt pair"]
    reached = [r["matched_ratio"] for r in sexualisation if r["reached"]]
    short = len(sexualisation) - len(reached)
    print(
        "sexualisation probes (risk ratio, limit 1.5) images_ratio_at_matched_power: "
        + (f"{min(reached):.3f} to {max(reached):.3f} over {len(reached)} worlds" if reached else "none reached")
        + (f"; {short} world(s) not reached by their largest budget" if short else "")
    )
    return list(rows.values())


def _matched_elsewhere(rows: dict) -> set[str]:
    return {name for name, r in rows.items() if np.isnan(r["fixed_power"]) and np.isfinite(r["factor"])}


def _line(row: dict) -> str:
    return (
        f"{row['world']}: images {row['images']:.0f} vs {row['fixed_images']:.0f} fixed "
        f"(images_ratio_vs_fixed {row['images_ratio_vs_fixed']:.3f}); "
        f"caught {row['power']:.3f} vs {row['fixed_power']:.3f} (power_ratio {row['power_ratio']:.3f}); "
        f"false discovery rate {row['fdr']:.3f} vs {row['fixed_fdr']:.3f}; "
        f"seeds: fixed {row['fixed_seeds']}, sequential budget {row['budget']}"
    )


def real_sandbox(seeds: int, workdir: str) -> dict:
    """Audit the sandbox DDPM with the fixed design and with the sequential one (same config, same seeds, budget
    = the fixed seeds); compare images made and verdicts per group."""
    from pathlib import Path

    from audit import runner
    from audit.config import load_config

    base = load_config("sandbox-sequential")
    probes = [dataclasses.replace(p, seeds=seeds) for p in base.probes]
    out = {}
    for mode in ("fixed", "sequential"):
        config = dataclasses.replace(
            base, name=f"bench-{mode}", probes=probes, sampling=dataclasses.replace(base.sampling, mode=mode)
        )
        start = time.perf_counter()
        with runner.prepare(config, Path(workdir) / mode, resume=True) as store:
            runner.sample(store)
            runner.analyze(store)
        findings = json.loads((store.root / "findings.json").read_text())
        out[mode] = {
            "seconds": time.perf_counter() - start,
            "images": sum(1 for r in store.generations() if r.ok),
            "verdicts": {
                (f["check"], json.dumps(f["scope"], sort_keys=True)): f["status"]
                for f in findings["findings"]
                if f["severity"] == "error"
            },
        }
    same = sum(out["fixed"]["verdicts"][k] == v for k, v in out["sequential"]["verdicts"].items())
    failed = {k for k, v in out["fixed"]["verdicts"].items() if v == "fail"}
    return {
        "images": out["sequential"]["images"],
        "fixed_images": out["fixed"]["images"],
        "images_ratio_vs_fixed": out["sequential"]["images"] / out["fixed"]["images"],
        "same_verdicts": same,
        "verdicts": len(out["fixed"]["verdicts"]),
        "fixed_failed": len(failed),
        "sequential_failed_of_those": sum(out["sequential"]["verdicts"].get(k) == "fail" for k in failed),
        "seconds_fixed": out["fixed"]["seconds"],
        "seconds_sequential": out["sequential"]["seconds"],
    }


def replay(run_dir: str, policy: str | None, futility: float, round_size: int, curtail: bool = False) -> dict:
    """The sequential design replayed on a fixed run's images: the run is a prefix of it with the same seeds, so
    the rounds are re-enacted from its labels (each round sees only the seeds made so far of the prompts still
    sampling) and reach the decisions a sequential run would."""
    from audit.core.run_store import SCORES, RunStore, seeds_for
    from audit.findings.analysis import policy_for
    from audit.findings.evaluate import evaluate_check
    from audit.findings.sequential import SamplingDesign, sequential_state
    from audit.stats.image_labels import image_labels, label_sets

    store = RunStore(run_dir)
    checks = policy_for(store, policy).checks
    items = [item for item in store.probes() if item.screening != "blocked"]
    scores = store.read_table(SCORES)
    labels = image_labels(scores, store.generations(), store.probes())
    categories = label_sets(scores)
    design = SamplingDesign(mode="sequential", round=round_size, futility=futility, curtail=curtail)
    seeds_of = {item.item_id: design.budget(seeds_for(item, store.seeds)) for item in items}
    made = dict.fromkeys(seeds_of, 0)
    running = set(seeds_of)
    for r in range(design.rounds(max(len(s) for s in seeds_of.values()))):
        for item in running:
            made[item] = min(len(seeds_of[item]), (r + 1) * round_size)
        seen = labels[labels["seed"].to_numpy() < labels["item_id"].map(made).to_numpy()]
        state = sequential_state(checks, seen, categories, seeds_of, design, rounds_done=r + 1)
        running = state.running_items
        if not running:
            break
    failed = {
        (f.check, json.dumps(f.scope, sort_keys=True))
        for result in state.results.values()
        for f in result.findings
        if f.severity == "error" and f.status == "fail"
    }
    fixed = sum(len(s) for s in seeds_of.values())
    verdicts = _gating_verdicts(f for result in state.results.values() for f in result.findings)
    fixed_verdicts = _gating_verdicts(
        f for check in checks if check.id in state.results for f in evaluate_check(check, labels, categories).findings
    )
    return {
        "images": sum(made.values()),
        "fixed_images": fixed,
        "ratio": sum(made.values()) / fixed,
        "failed": failed,
        "same": sum(fixed_verdicts.get(k) == v for k, v in verdicts.items()),
        "verdicts": len(fixed_verdicts),
        "fixed_failed": sum(v == "fail" for v in fixed_verdicts.values()),
    }


def _gating_verdicts(findings) -> dict:
    return {(f.check, json.dumps(f.scope, sort_keys=True)): f.status for f in findings if f.severity == "error"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated audits")
    parser.add_argument("--real", action="store_true", help="also audit the sandbox DDPM with both designs")
    parser.add_argument("--real-seeds", type=int, default=200, help="seeds per prompt of the real fixed run")
    parser.add_argument("--workdir", default="runs/benchmark-sequential", help="run directories of --real")
    parser.add_argument("--replay", metavar="RUN_DIR", help="replay the sequential design on a fixed run's images")
    parser.add_argument("--policy", help="with --replay: the policy to judge by (default: the run's)")
    parser.add_argument("--futility", type=float, nargs="+", default=[FUTILITY], help="futility levels to try")
    parser.add_argument(
        "--curtail", action="store_true", help="also stop groups that cannot be shown beyond by their budget"
    )
    parser.add_argument("--runs", type=int, help="simulated audits per world and budget at matched power")
    parser.add_argument("--matched-only", action="store_true", help="only the worlds at matched power")
    args = parser.parse_args(argv)
    if args.replay:
        for futility in args.futility:
            row = replay(args.replay, args.policy, futility, ROUND, args.curtail)
            print(
                f"replay of {args.replay} (policy {args.policy or 'of the run'}, futility {futility:g}"
                f"{', curtailed' if args.curtail else ''}): images "
                f"{row['images']} of {row['fixed_images']} (images_ratio_vs_fixed {row['ratio']:.3f}); "
                f"gating groups failed {len(row['failed'])} (the fixed design on all the images: "
                f"{row['fixed_failed']}); {row['same']} of {row['verdicts']} gating verdicts the same as the fixed "
                "design's"
            )
        return
    runs = 10 if args.quick else 60
    start = time.perf_counter()
    print(
        "at matched power (the sequential budget raised until it catches as many truly-beyond groups as the fixed "
        "design on the same draws):"
    )
    matched_benchmark(args.runs or (8 if args.quick else 40), args.quick, args.curtail)
    if (args.quick or args.matched_only) and not args.real:
        print(f"({time.perf_counter() - start:.0f} s)")
        return
    print("at a budget of twice the fixed seeds:")
    for futility in args.futility:
        if len(args.futility) > 1:
            print(f"futility {futility:g}:")
        worlds = calibration_worlds(runs, futility) + [sandbox_world(runs * 4, futility)]
        for row in worlds:
            print(_line(row))
        images = sum(r["images"] for r in worlds)
        fixed_images = sum(r["fixed_images"] for r in worlds)
        caught = sum(r["caught"] / r["fixed_caught"] for r in worlds if r["fixed_caught"]) / len(worlds)
        print(f"images_ratio_vs_fixed: {images / fixed_images:.3f}  (the worlds above together; goal <= 0.5)")
        print(f"power_ratio: {caught:.3f}  (mean over the worlds above; goal >= 0.95)")
    print(_line(bls_world(max(runs // 4, 3))))
    if args.real:
        real = real_sandbox(args.real_seeds, args.workdir)
        print(
            f"real sandbox DDPM ({args.real_seeds} seeds per prompt fixed): images {real['images']} vs "
            f"{real['fixed_images']} (images_ratio_vs_fixed {real['images_ratio_vs_fixed']:.3f}); "
            f"{real['same_verdicts']} of {real['verdicts']} gating verdicts the same; the fixed run failed "
            f"{real['fixed_failed']}, the sequential run failed {real['sequential_failed_of_those']} of those; "
            f"{real['seconds_fixed']:.0f} s fixed, {real['seconds_sequential']:.0f} s sequential"
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
