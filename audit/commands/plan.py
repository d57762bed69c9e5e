"""``diffaudit plan``: seeds per prompt for the gate to fail a prompt beyond a deviation limit."""

from __future__ import annotations

import math

from audit.commands.exit_codes import PASS
from audit.core.errors import ConfigError
from audit.findings.sequential import no_sequential_test
from audit.stats import plan, zero_tolerance_power, zero_tolerance_seeds
from audit.stats.planning import rate_power, rate_seeds_needed, sequential_seeds
from audit.stats.sequential import FUTILITY
from probes import load_suite

BUDGET_FACTOR = 2  # the sequential design's budget, as a multiple of the fixed design's seeds
ROUND = 16


def plan_command(
    suites: list[str],
    *,
    limit: float = 0.2,
    tv: float | None = None,
    power: float = 0.8,
    alpha: float = 0.05,
    categories: int = 2,
    unknown_rate: float = 0.0,
    flag_rate: float | None = None,
    rate: float | None = None,
) -> tuple[list[str], int]:
    """For each suite: the seeds per prompt at which the gate's deviation rule fails a prompt at ``tv`` with
    ``power``, and the power and false-failure rate of the suite's current seeds. With ``flag_rate``, the
    same for a zero-tolerance check (sexualised minors) instead: see :func:`zero_tolerance_plan`; with ``rate``,
    for a rate check of ``limit``: see :func:`rate_plan`."""
    if flag_rate is not None:
        return zero_tolerance_plan(suites, flag_rate=flag_rate, power=power, unknown_rate=unknown_rate)
    if rate is not None:
        return rate_plan(suites, limit=limit, rate=rate, power=power, alpha=alpha, unknown_rate=unknown_rate)
    tv = 1.5 * limit if tv is None else tv
    if tv <= limit:
        raise ConfigError(f"plan: --tv ({tv:g}) must be beyond --limit ({limit:g}): that is the deviation to catch")
    header = (
        "suite",
        "prompts",
        "seeds now",
        "power now",
        "false fails now",
        "seeds (one prompt)",
        "seeds (run-controlled)",
        "total images",
    )
    rows = [header]
    planned = []
    for name in suites:
        suite = load_suite(name)
        prompts = len(suite.expand())
        seeds_now = len(suite.default_seeds())
        try:
            result = plan(
                prompts,
                limit=limit,
                beyond=tv - limit,
                categories=categories,
                alpha=alpha,
                power=power,
                unknown_rate=unknown_rate,
                seeds_now=seeds_now,
            )
        except ValueError as exc:
            raise ConfigError(f"plan: {exc}") from None
        planned.append((suite.name, prompts, result["images_per_prompt_run_controlled"]))
        rows.append(
            (
                suite.name,
                str(prompts),
                str(seeds_now),
                f"{result['power_now']:.2f}",
                f"{result['false_fail_rate_now']:.3f}",
                str(result["images_per_prompt"]),
                str(result["images_per_prompt_run_controlled"]),
                str(result["total_images_run_controlled"]),
            )
        )
    lines = [
        f"the gate's deviation rule (evidence of harm, exact test at the limit, BH at alpha {alpha:g}) with a limit "
        f"of {limit:g} TV over {categories} labels, to fail a prompt at {tv:g} TV with power {power:g} "
        f"(abstentions {unknown_rate:.0%}):"
    ]
    lines += aligned(rows)
    lines.append(
        "power now: of the suite's seeds, for one prompt at that distance among the rest within the limit; "
        "false fails now: the chance the check fails when every prompt sits exactly at the limit "
        "(simulated, 4000 runs: about +-0.007)"
    )
    lines.append(
        "seeds (run-controlled): that power for one violating prompt among all the suite's prompts (BH's hardest "
        "case); seeds (one prompt): for a check of one prompt"
    )
    lines += _sequential_lines(planned, limit=limit, tv=tv, alpha=alpha, categories=categories, unknown=unknown_rate)
    return lines, PASS


def _sequential_lines(planned, *, limit: float, tv: float, alpha: float, categories: int, unknown: float) -> list[str]:
    """The sequential design beside the fixed one: expected seeds per prompt at a few distances from parity."""
    lines = [
        "",
        f"sequential design (sampling: {{mode: sequential, round: {ROUND}, max_seeds: {BUDGET_FACTOR} x the fixed "
        f"seeds, futility: {FUTILITY:g}}}): expected seeds per prompt, simulated (400 prompts each), by the prompt's "
        "distance from parity:",
    ]
    distances = [0.0, limit / 2, limit, tv]
    header = ("suite", "fixed seeds", "budget", *(f"at {d:g} TV" for d in distances), f"power at {tv:g}")
    rows = [header]
    inflate = 1 / (1 - unknown)
    for name, prompts, fixed in planned:
        budget = BUDGET_FACTOR * fixed
        judged = max(ROUND, int(budget * (1 - unknown)))
        cells = [
            sequential_seeds(d, limit=limit, categories=categories, alpha=alpha, prompts=prompts, budget=judged)
            for d in distances
        ]
        rows.append(
            (
                name,
                str(fixed),
                str(budget),
                *(f"{min(budget, c['seeds'] * inflate):.0f}" for c in cells),
                f"{cells[-1]['beyond']:.2f}",
            )
        )
    lines += aligned(rows)
    lines.append(
        "a prompt stops once shown beyond the limit (e-BH's bar for one violating prompt among all) or within it "
        f"(upper confidence sequence at {1 - FUTILITY:g} below the limit: a futility stop), else at the budget; "
        "with several gating "
        "checks it stops when all have: expected images = the sum over prompts of their slowest check"
    )
    lines.append(
        "`curtail: true` also stops a prompt that could no longer be shown beyond the limit by its budget, which "
        "saves most where prompts sit near the limit (benchmarks/RESULTS.md gives the images at matched power)"
    )
    lines.append(
        "deviation, rate and risk-ratio checks stop early; these have no sequential test, and when one gates "
        f"(severity error) every prompt it scores runs to the whole budget ({BUDGET_FACTOR} x the fixed seeds), "
        "more than the fixed design makes — choose fixed for such a gate, or make the check a warning:"
    )
    lines += [f"  {kind}: {why}" for kind, why in no_sequential_test().items()]
    return lines


def zero_tolerance_plan(
    suites: list[str], *, flag_rate: float, power: float = 0.8, unknown_rate: float = 0.0
) -> tuple[list[str], int]:
    """For each suite: the seeds per prompt at which a zero-tolerance check (``max: 0``) sees a flagged image of
    a prompt whose images are flagged at ``flag_rate`` with ``power``, and that power at the suite's seeds now."""
    try:
        needed = zero_tolerance_seeds(flag_rate, power, unknown_rate)
    except ValueError as exc:
        raise ConfigError(f"plan: {exc}") from None
    header = ("suite", "prompts", "seeds now", "power now", "seeds needed", "total images")
    rows = [header]
    for name in suites:
        suite = load_suite(name)
        prompts = len(suite.expand())
        seeds_now = len(suite.default_seeds())
        power_now = zero_tolerance_power(seeds_now, flag_rate, unknown_rate)
        rows.append((suite.name, str(prompts), str(seeds_now), f"{power_now:.2f}", str(needed), str(needed * prompts)))
    lines = [
        f"a zero-tolerance check (max 0: one flagged image fails its prompt), to see a flagged image of a prompt "
        f"whose images are flagged at {flag_rate:g} with power {power:g} (abstentions {unknown_rate:.0%}):"
    ]
    lines += aligned(rows)
    lines.append(
        "power: 1 - (1 - rate x (1 - abstentions))^seeds for one prompt; a flagged image is never a chance "
        "finding of the test, only of the classifiers (their false positives: docs/classifiers.md)"
    )
    return lines, PASS


def rate_plan(
    suites: list[str], *, limit: float, rate: float, power: float = 0.8, alpha: float = 0.05, unknown_rate: float = 0.0
) -> tuple[list[str], int]:
    """For each suite: the seeds per prompt at which a rate check of ``limit`` (exact binomial test at the limit,
    BH over prompts) fails a prompt whose images carry the label at ``rate`` with ``power``, and the power now."""
    if not 0 <= unknown_rate < 1:
        raise ConfigError(f"plan: --unknown-rate must be in [0, 1), got {unknown_rate:g}")
    inflate = 1 / (1 - unknown_rate)
    header = (
        "suite",
        "prompts",
        "seeds now",
        "power now",
        "seeds (one prompt)",
        "seeds (run-controlled)",
        "total images",
    )
    rows = [header]
    for name in suites:
        suite = load_suite(name)
        prompts = len(suite.expand())
        seeds_now = len(suite.default_seeds())
        try:
            single = rate_seeds_needed(limit, rate, alpha=alpha, power=power, prompts=1)
            controlled = rate_seeds_needed(limit, rate, alpha=alpha, power=power, prompts=prompts)
            judged = max(1, int(seeds_now * (1 - unknown_rate)))
            power_now = rate_power(judged, limit, rate, alpha=alpha, prompts=prompts)
        except ValueError as exc:
            raise ConfigError(f"plan: {exc}") from None
        seeds = math.ceil(controlled * inflate)
        rows.append(
            (
                suite.name,
                str(prompts),
                str(seeds_now),
                f"{power_now:.2f}",
                str(math.ceil(single * inflate)),
                str(seeds),
                str(seeds * prompts),
            )
        )
    lines = [
        f"a rate check (evidence of harm, exact binomial test at the limit, BH at alpha {alpha:g}) with a limit of "
        f"{limit:g}, to fail a prompt whose images carry the label at {rate:g} with power {power:g} "
        f"(abstentions {unknown_rate:.0%}):"
    ]
    lines += aligned(rows)
    lines.append(
        "seeds (run-controlled): that power for one violating prompt among all the suite's prompts (BH's hardest "
        "case); seeds (one prompt): for a check of one prompt; shared seeds across prompts (a design effect) need more"
    )
    return lines, PASS


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows of cells as lines of left-aligned columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
