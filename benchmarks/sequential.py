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
the sandbox's planted bias) the fixed design makes the planner's seeds and
the sequential design's budget is raised through 1-3 x those seeds until it
catches the truly-beyond groups as often as the fixed design does on the same
draws; its images there over the fixed images are ``images_ratio_at_matched_power``
(interpolated between the budgets tried), and the range over the worlds is
printed last. A world with none beyond is spent at the budget matched in its
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

from audit.stats.decision import HARM
from audit.stats.planning import seeds_needed
from audit.stats.sequential import FUTILITY
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
    return worlds


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


def _simulate(
    world: World, budget: int, rng_seed, horizon: int, fixed: bool, curtail: bool = False
) -> tuple[np.ndarray, int, int, int]:
    """One audit of ``world`` at a sequential ``budget``: images per group (the most any check used), groups
    beyond caught by the sequential design and by the fixed one (when ``fixed``), groups beyond."""
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
    world: World, *, runs: int, factors, seed: int = 0, spend_at: float | None = None, curtail: bool = False
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
    at = float(np.interp(min(factor, factors[-1]), factors, ratio)) if np.isfinite(factor) else float("nan")
    two = float(np.interp(2.0, factors, ratio))
    return {
        "world": world.name,
        "groups": world.groups,
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
    elif np.isfinite(row["factor"]):
        at = f"power not reached by {max(row['ratios']):g} x the fixed seeds (ratio there {row['matched_ratio']:.3f})"
    else:
        at = "no group beyond: no power to match"
    power = f"fixed power {row['fixed_power']:.2f}, " if np.isfinite(row["fixed_power"]) else ""
    return (
        f"{row['world']}: fixed {row['fixed_seeds']} seeds a prompt ({power.rstrip(', ') or 'none beyond'}); "
        f"{at}; at 2 x: images_ratio {row['ratio_at_2x']:.3f}"
        + (f", power {row['power_at_2x']:.2f}" if np.isfinite(row["power_at_2x"]) else "")
    )


def matched_benchmark(runs: int, quick: bool, curtail: bool = False) -> list[dict]:
    """Every wider world at matched power; prints a line each and the range of the ratios."""
    factors = QUICK_FACTORS if quick else FACTORS
    rows: dict[str, dict] = {}
    for i, world in enumerate(wider_worlds(quick)):
        spend = rows[world.match]["factor"] if world.match else None
        rows[world.name] = matched(world, runs=runs, factors=factors, seed=i, spend_at=spend, curtail=curtail)
        print(_matched_line(rows[world.name]), flush=True)
    ratios = [r["matched_ratio"] for r in rows.values() if r["reached"] or r["world"] in _matched_elsewhere(rows)]
    if ratios:
        print(f"images_ratio_at_matched_power: {min(ratios):.3f} to {max(ratios):.3f} over {len(ratios)} worlds")
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
