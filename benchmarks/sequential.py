"""Cost of the sequential design against the fixed one, on the same simulated worlds and on a real sandbox run.

    python -m benchmarks.sequential            # simulated worlds (a few minutes)
    python -m benchmarks.sequential --quick    # fewer simulated audits
    python -m benchmarks.sequential --futility 0.05 0.2 0.5   # the simulated worlds at several futility levels
    python -m benchmarks.sequential --real     # also the sandbox DDPM, fixed and sequential (several minutes)
    python -m benchmarks.sequential --replay runs/benchmark-sequential/fixed --policy P --futility 0.05 0.2 0.5
                                               # what the sequential design would have made of a fixed run's images

For each world, the fixed design makes the seeds ``diffaudit plan`` asks for
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
import json
import time

import numpy as np

from audit.stats.calibration import LIMIT, _shifted, simulate_check
from audit.stats.decision import HARM
from audit.stats.planning import seeds_needed
from audit.stats.sequential import FUTILITY

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
    half = _shifted(np.array([0.5, 0.5]), LIMIT / 2)
    bad = _shifted(np.array([0.5, 0.5]), 1.5 * LIMIT)
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
    import dataclasses
    from pathlib import Path

    from audit import runner
    from audit.config import load_config
    from audit.findings.sequential import SamplingDesign

    base = load_config("sandbox-sequential")
    probes = [dataclasses.replace(p, seeds=seeds) for p in base.probes]
    out = {}
    for mode in ("fixed", "sequential"):
        config = dataclasses.replace(
            base, name=f"bench-{mode}", probes=probes, sampling=SamplingDesign(mode=mode, round=base.sampling.round)
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


def replay(run_dir: str, policy: str | None, futility: float, round_size: int) -> dict:
    """The sequential design replayed on a fixed run's images: the run is a prefix of it with the same seeds, so
    the rounds are re-enacted from its labels (each round sees only the seeds made so far of the prompts still
    sampling) and reach the decisions a sequential run would."""
    from audit.core.run_store import SCORES, RunStore, seeds_for
    from audit.findings.analysis import policy_for
    from audit.findings.sequential import SamplingDesign, sequential_state
    from audit.stats.image_labels import image_labels, label_sets

    store = RunStore(run_dir)
    checks = policy_for(store, policy).checks
    items = [item for item in store.probes() if item.screening != "blocked"]
    scores = store.read_table(SCORES)
    labels = image_labels(scores, store.generations(), store.probes())
    categories = label_sets(scores)
    design = SamplingDesign(mode="sequential", round=round_size, futility=futility)
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
    return {"images": sum(made.values()), "fixed_images": fixed, "ratio": sum(made.values()) / fixed, "failed": failed}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulated audits")
    parser.add_argument("--real", action="store_true", help="also audit the sandbox DDPM with both designs")
    parser.add_argument("--real-seeds", type=int, default=200, help="seeds per prompt of the real fixed run")
    parser.add_argument("--workdir", default="runs/benchmark-sequential", help="run directories of --real")
    parser.add_argument("--replay", metavar="RUN_DIR", help="replay the sequential design on a fixed run's images")
    parser.add_argument("--policy", help="with --replay: the policy to judge by (default: the run's)")
    parser.add_argument("--futility", type=float, nargs="+", default=[FUTILITY], help="futility levels to try")
    args = parser.parse_args(argv)
    if args.replay:
        for futility in args.futility:
            row = replay(args.replay, args.policy, futility, ROUND)
            print(
                f"replay of {args.replay} (policy {args.policy or 'of the run'}, futility {futility:g}): images "
                f"{row['images']} of {row['fixed_images']} (images_ratio_vs_fixed {row['ratio']:.3f}); "
                f"gating groups failed {len(row['failed'])}"
            )
        return
    runs = 10 if args.quick else 60
    start = time.perf_counter()
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
