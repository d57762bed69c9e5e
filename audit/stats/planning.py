"""Sample-size planning for the gate's own rule: seeds per prompt to fail a prompt beyond a deviation limit.

The rule planned for is the one ``evidence_of_harm`` deviation checks run
(:mod:`audit.stats.distance_limits` and :mod:`audit.stats.decision`): each
prompt's test of H0: distance <= limit, Benjamini-Hochberg across the
prompts of the check, fail where the adjusted p-value is at most alpha.

- Power is for one prompt at ``limit + beyond`` while the other prompts of
  the check are within the limit, the hardest case for BH: its p-value must
  then be at most alpha / prompts. (When many prompts violate, BH is more
  lenient and the power higher.) The alternative raises one label by the
  distance and lowers another, as far from its reference as the limit is
  measured. The power is computed exactly by enumerating the outcomes where
  they are few enough, and by simulation of the same test otherwise.
- The false-failure rate is the chance that the whole check fails when every
  prompt sits exactly at the limit (the worst compliant model), simulated.

``unknown_rate`` inflates the seeds for images the classifier abstains on.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from audit.stats.distance_limits import (
    EXACT_OUTCOMES,
    binary_p_beyond,
    exact_tv_table,
    largest_distance,
    outcomes_by_tv,
    p_beyond_many,
)
from audit.stats.rate_limits import p_rate_beyond
from audit.stats.sequential import FUTILITY


def _parity(categories: int) -> np.ndarray:
    if categories < 2:
        raise ValueError(f"a distribution needs at least 2 categories, got {categories}")
    return np.full(categories, 1.0 / categories)


def _raise_first_take_next(q: np.ndarray, distance: float) -> np.ndarray:
    """q with its first label raised by ``distance`` and the mass taken from the others in turn."""
    p = q.copy()
    p[0] += distance
    need = distance
    for j in range(1, len(q)):
        take = min(need, p[j])
        p[j] -= take
        need -= take
    return p


def _check(limit: float, beyond: float, categories: int) -> None:
    _parity(categories)
    largest = largest_distance(_parity(categories))
    if not 0 <= limit < largest:
        raise ValueError(f"limit must be in [0, {largest:g}) for {categories} labels, got {limit}")
    if not 0 < beyond <= largest - limit:
        raise ValueError(f"beyond must be in (0, {largest - limit:g}] above a limit of {limit:g}, got {beyond}")


def _p_values(outcomes: np.ndarray, n: int, q: np.ndarray, limit: float) -> np.ndarray:
    """The rule's p-value for each outcome (rows of counts)."""
    return p_beyond_many(outcomes, q, limit)


def power_beyond(
    n: int,
    limit: float,
    beyond: float,
    *,
    categories: int = 2,
    alpha: float = 0.05,
    prompts: int = 1,
    samples: int = 4000,
    seed: int = 0,
) -> float:
    """Chance that a prompt at ``limit + beyond`` from parity fails when it is the only one of ``prompts`` to."""
    _check(limit, beyond, categories)
    q = _parity(categories)
    p_alt = _raise_first_take_next(q, limit + beyond)
    level = alpha / max(prompts, 1)
    if categories == 2:
        x = np.arange(n + 1)
        rejects = binary_p_beyond(x, n, q[0], np.abs(x / n - q[0]), limit) <= level
        return float(stats.binom.pmf(x, n, p_alt[0])[rejects].sum())
    if math.comb(n + categories - 1, categories - 1) <= EXACT_OUTCOMES:
        comps, coef, tv = outcomes_by_tv(n, tuple(np.round(q, 12)))
        _, p_of_outcome = exact_tv_table(n, tuple(np.round(q, 12)), round(float(limit), 12))
        mass = np.exp(coef + comps @ np.log(np.where(p_alt > 0, p_alt, 1.0)))
        mass[(comps[:, p_alt <= 0] > 0).any(axis=1)] = 0.0
        return float(mass[p_of_outcome <= level].sum())
    draws = np.random.default_rng(seed).multinomial(n, p_alt, size=samples)
    return float(np.mean(_p_values(draws, n, q, limit) <= level))


def false_fail_rate(
    n: int,
    limit: float,
    *,
    categories: int = 2,
    alpha: float = 0.05,
    prompts: int = 1,
    runs: int = 2000,
    seed: int = 0,
) -> float:
    """Chance that a check of ``prompts`` prompts, all exactly at the limit, fails (any prompt): simulated, or
    exact for one prompt of two labels."""
    q = _parity(categories)
    p_at = _raise_first_take_next(q, limit)
    if prompts == 1 and categories == 2:
        # One prompt: the exact chance that its test rejects at the limit.
        x = np.arange(n + 1)
        rejects = binary_p_beyond(x, n, q[0], np.abs(x / n - q[0]), limit) <= alpha
        return float(stats.binom.pmf(x, n, p_at[0])[rejects].sum())
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, p_at, size=(runs, prompts))
    p_values = _p_values(draws.reshape(runs * prompts, -1), n, q, limit).reshape(runs, prompts)
    # BH fails some prompt exactly when the smallest p-value clears its step: any p_(i) <= alpha * i / prompts.
    ranked = np.sort(p_values, axis=1)
    steps = alpha * np.arange(1, prompts + 1) / prompts
    return float(np.mean((ranked <= steps).any(axis=1)))


def seeds_needed(
    limit: float,
    beyond: float,
    *,
    categories: int = 2,
    alpha: float = 0.05,
    power: float = 0.8,
    prompts: int = 1,
    largest: int = 5000,
) -> int:
    """The fewest images per prompt for :func:`power_beyond` to reach ``power`` (the first n that does)."""
    _check(limit, beyond, categories)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    return _first_reaching(
        lambda m: power_beyond(m, limit, beyond, categories=categories, alpha=alpha, prompts=prompts) >= power,
        power,
        largest,
    )


def _first_reaching(reaches, power: float, largest: int) -> int:
    """The first n for which ``reaches(n)``: doubling to bracket it, then a scan up from the last power of two
    that fell short (an exact test's power is a sawtooth in n, so bisection could miss the first)."""
    high = 2
    while not reaches(high):
        high *= 2
        if high > largest:
            raise ValueError(f"no number of images up to {largest} reaches power {power}")
    m = high // 2 + 1 if high > 2 else 1
    while not reaches(m):
        m += 1
    return m


def minimum_detectable(
    n: int,
    limit: float,
    *,
    categories: int = 2,
    alpha: float = 0.05,
    power: float = 0.8,
    prompts: int = 1,
    tolerance: float = 1e-3,
) -> float | None:
    """The smallest distance from parity (TV) at which a prompt of ``n`` judged images fails with ``power``:
    the deviation rule's minimum detectable effect, by :func:`power_beyond` (one violating prompt among
    ``prompts``, BH's hardest case). None when no distance up to the largest possible reaches that power.

    It agrees with :func:`seeds_needed`: ``seeds_needed(limit, d - limit, ...)`` is at most ``n`` for every
    ``d`` at or above the value returned (power rises with the distance)."""
    _parity(categories)
    room = largest_distance(_parity(categories)) - limit
    if n < 1 or room <= 0:
        return None
    kwargs = {"categories": categories, "alpha": alpha, "prompts": prompts}
    if power_beyond(n, limit, room, **kwargs) < power:
        return None
    low, high = 0.0, room  # power(low) < power <= power(high)
    while high - low > tolerance:
        middle = (low + high) / 2
        if power_beyond(n, limit, middle, **kwargs) >= power:
            high = middle
        else:
            low = middle
    return limit + high


def rate_power(n: int, limit: float, rate: float, *, alpha: float = 0.05, prompts: int = 1) -> float:
    """Chance that a prompt of ``n`` judged images whose images carry a label at ``rate`` fails a rate check of
    ``limit`` (exact binomial test at the limit, level alpha / prompts: one violating prompt among all)."""
    if not 0 <= limit < 1 or not 0 <= rate <= 1:
        raise ValueError(f"limit must be in [0, 1) and rate in [0, 1], got {limit} and {rate}")
    x = np.arange(n + 1)
    rejects = p_rate_beyond(x, n, limit) <= alpha / max(prompts, 1)
    return float(stats.binom.pmf(x, n, rate)[rejects].sum())


def minimum_detectable_rate(
    n: int,
    limit: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    prompts: int = 1,
    tolerance: float = 1e-4,
) -> float | None:
    """The smallest rate at which a prompt of ``n`` judged images fails a rate check of ``limit`` with
    ``power`` (see :func:`rate_power`); None when not even a rate of 1 does."""
    if n < 1 or rate_power(n, limit, 1.0, alpha=alpha, prompts=prompts) < power:
        return None
    low, high = limit, 1.0
    while high - low > tolerance:
        middle = (low + high) / 2
        if rate_power(n, limit, middle, alpha=alpha, prompts=prompts) >= power:
            high = middle
        else:
            low = middle
    return high


def rate_seeds_needed(
    limit: float, rate: float, *, alpha: float = 0.05, power: float = 0.8, prompts: int = 1, largest: int = 100_000
) -> int:
    """The fewest images per prompt for :func:`rate_power` to reach ``power`` at ``rate`` (the first n that does)."""
    if not limit < rate <= 1:
        raise ValueError(f"the rate to catch must be in ({limit:g}, 1], got {rate}")
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    return _first_reaching(lambda m: rate_power(m, limit, rate, alpha=alpha, prompts=prompts) >= power, power, largest)


def plan(
    prompts: int,
    *,
    limit: float = 0.2,
    beyond: float = 0.1,
    categories: int = 2,
    alpha: float = 0.05,
    power: float = 0.8,
    unknown_rate: float = 0.0,
    seeds_now: int | None = None,
) -> dict[str, float]:
    """A plan for a check over ``prompts`` prompts: seeds per prompt for the power, and what the current seeds give.

    ``images_per_prompt`` is for a check with one prompt (level alpha);
    ``images_per_prompt_run_controlled`` for one violating prompt among all
    (level alpha / prompts), which the gate must reach in the worst case.
    """
    if not 0 <= unknown_rate < 1:
        raise ValueError(f"unknown_rate must be in [0, 1), got {unknown_rate}")
    inflate = 1 / (1 - unknown_rate)
    kwargs = {"categories": categories, "alpha": alpha}
    single = seeds_needed(limit, beyond, power=power, prompts=1, **kwargs)
    controlled = seeds_needed(limit, beyond, power=power, prompts=prompts, **kwargs)
    out = {
        "prompts": prompts,
        "limit": limit,
        "beyond": beyond,
        "categories": categories,
        "alpha": alpha,
        "power": power,
        "images_per_prompt": int(math.ceil(single * inflate)),
        "images_per_prompt_run_controlled": int(math.ceil(controlled * inflate)),
        "total_images_run_controlled": int(math.ceil(controlled * inflate)) * prompts,
    }
    if seeds_now is not None:
        judged = max(1, int(seeds_now * (1 - unknown_rate)))
        out["seeds_now"] = seeds_now
        out["power_now"] = power_beyond(judged, limit, beyond, prompts=prompts, **kwargs)
        out["false_fail_rate_now"] = false_fail_rate(judged, limit, prompts=prompts, runs=4000, **kwargs)
    return out


def sequential_seeds(
    tv: float,
    *,
    limit: float = 0.2,
    categories: int = 2,
    alpha: float = 0.05,
    prompts: int = 1,
    budget: int = 816,
    round_size: int = 16,
    runs: int = 400,
    seed: int = 0,
    futility: float = FUTILITY,
) -> dict[str, float]:
    """What the sequential design (:mod:`audit.stats.sequential`) spends on one prompt ``tv`` from parity, simulated:
    its mean seeds, and how often it stops shown beyond (its e-value clearing ``prompts`` / alpha: e-BH's bar for
    one violating prompt among all, the hardest case), stopped within (upper confidence sequence at 1 - ``futility``
    below the limit) or at its ``budget``."""
    from audit.stats.sequential import batch_evidence, metric_directions

    q = _parity(categories)
    p = _raise_first_take_next(q, tv)
    rng = np.random.default_rng(seed)
    labels = rng.choice(categories, size=(runs, budget), p=p)
    beyond, within = batch_evidence(np.eye(categories)[labels], metric_directions("tv", q), limit)
    ends = np.minimum(np.arange(round_size, budget + round_size, round_size), budget) - 1  # last index of each round
    shown_beyond = beyond[:, ends] >= math.log(prompts / alpha)
    shown_within = within[:, ends] >= math.log(1 / futility)
    settled = shown_beyond | shown_within
    first = np.where(settled.any(axis=1), settled.argmax(axis=1), len(ends) - 1)
    rows = np.arange(runs)
    return {
        "tv": tv,
        "seeds": float((ends[first] + 1).mean()),
        "beyond": float(shown_beyond[rows, first].mean()),
        "within": float((shown_within[rows, first] & ~shown_beyond[rows, first]).mean()),
        "budget": float((~settled.any(axis=1)).mean()),
    }
