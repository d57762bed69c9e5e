"""Calibration of the gate's decision rules by simulation, in the hard cases: planted truths, known answers.

Run ``python -m benchmarks.calibration`` for the full grid (a few minutes;
``--quick`` for a smaller one). For each rule it prints a table whose cells
are scenarios — few images, rates near 0, distances at the limit, many or
unequal groups, shared seeds with template effects, zero-event arms, extreme
BLS shares — with:

- ``error``: for a model that meets the limit (``compliant``), the rate at
  which the rule fails it (evidence of harm) or, for a model at the limit,
  the rate at which a certification rule passes it (evidence of safety);
  the goal is at most alpha + 0.01 in every cell;
- ``power``: the rate at which a violating model is caught;
- ``coverage``: of the two-sided 95% interval the findings and the report
  print; the goal is at least 0.93.

Then the summary lines ``worst_false_fail_rate``, ``worst_false_pass_rate``
and ``worst_coverage``. Where the outcomes of a cell can be enumerated the
rates are exact (``exact`` in the table), otherwise simulated with a fixed
seed. The tests in tests/audit/stats run smaller versions of the same
functions.
"""

from __future__ import annotations

import argparse
import math
import re
import time
from collections.abc import Callable
from importlib import resources

import numpy as np
from scipy import stats

from audit.stats.amplification import amplification
from audit.stats.correction import corrected_draws, corrected_limit_tests
from audit.stats.decision import HARM, SAFETY, adjusted_p_values
from audit.stats.design_effect import effective_counts
from audit.stats.distance_limits import distance, interval, p_beyond, p_beyond_many, p_within, p_within_many
from audit.stats.group_estimand import prompt_blocks, prompt_weighted_counts
from audit.stats.planning import power_beyond, seeds_needed
from audit.stats.rate_limits import clopper_pearson, p_rate_beyond, p_rate_within, pooled_rate
from audit.stats.ratio_limits import paired_ratio, unpaired_ratio
from audit.stats.sequential import FUTILITY, batch_evidence, final_verdicts, metric_directions, stop_rule, trajectory
from audit.stats.sequential_ratio import RatioTrajectory

ALPHA = 0.05
LIMIT = 0.2
ENUMERATE = 200_000  # outcomes enumerated for exact rates; beyond, simulation


def raise_first_take_last(q: np.ndarray, tv: float) -> np.ndarray:
    """q with its first label raised by ``tv`` and the mass taken from the last labels first (a vertex)."""
    p = q.astype(float).copy()
    p[0] += tv
    need = tv
    for j in range(len(q) - 1, 0, -1):
        take = min(need, p[j])
        p[j] -= take
        need -= take
    return p


def tilt_every_label(q: np.ndarray, tv: float) -> np.ndarray:
    """q moved by ``tv`` towards a distribution that tilts every label (no label left at its reference)."""
    k = len(q)
    direction = np.linspace(1, -1, k)
    direction -= direction.mean()
    step = tv / (0.5 * np.abs(direction).sum())
    p = q + step * direction
    return p if (p >= 0).all() else raise_first_take_last(q, tv)


def _outcome_vectors(n: int, k: int) -> np.ndarray:
    from audit.stats.distance_limits import count_outcomes as enumerate_outcomes

    return enumerate_outcomes(n, k)[0]


def _multinomial_pmf(outcomes: np.ndarray, n: int, p: np.ndarray) -> np.ndarray:
    return stats.multinomial.pmf(outcomes, n, p)


# --- deviation ----------------------------------------------------------------------------------------


def deviation_cell(
    n: int, q, p, *, decide: str = HARM, limit: float = LIMIT, reps: int = 1000, seed: int = 0, coverage: bool = True
) -> dict:
    """One group: the chance the rule fails it (harm) or passes it (safety) at level alpha, and CI coverage."""
    q = np.asarray(q, float)
    p = np.asarray(p, float)
    k = len(q)
    truth = float(distance(p, q))
    exact = math.comb(n + k - 1, k - 1) <= ENUMERATE
    rng = np.random.default_rng(seed)
    if exact:
        outcomes = _outcome_vectors(n, k)
        weights = _multinomial_pmf(outcomes, n, p)
    else:
        outcomes = rng.multinomial(n, p, size=reps)
        weights = np.full(reps, 1 / reps)
    if decide == HARM:
        rejected = p_beyond_many(outcomes, q, limit) <= ALPHA
    else:
        rejected = p_within_many(outcomes, q, limit) <= ALPHA
    out = {"rate": float(weights[rejected].sum()), "exact": exact, "truth": truth}
    if coverage:
        if exact and k == 2:
            cover_outcomes, cover_weights = outcomes, weights
        else:
            cover_outcomes = rng.multinomial(n, p, size=min(reps, 600))
            cover_weights = np.full(len(cover_outcomes), 1 / len(cover_outcomes))
        hits = 0.0
        for o, w in zip(cover_outcomes, cover_weights, strict=True):
            low, high = interval(o, q)
            hits += w * (low - 1e-9 <= truth <= high + 1e-9)
        out["coverage"] = float(hits)
    return out


def gate_false_fail(
    groups: int, n, q, p, *, limit: float = LIMIT, runs: int = 1000, seed: int = 0, violating: int = 0, p_bad=None
) -> dict:
    """Whole checks of ``groups`` groups (``n`` images each, or one size per group): the chance that any
    compliant group fails, and the share of the ``violating`` groups (at ``p_bad``) caught."""
    rng = np.random.default_rng(seed)
    q = np.asarray(q, float)
    sizes = np.broadcast_to(np.asarray(n), (groups,))
    false_fail = caught = 0
    for _ in range(runs):
        p_values = np.empty(groups)
        for size in np.unique(sizes):
            at = np.flatnonzero(sizes == size)
            shares = np.tile(p, (len(at), 1))
            if violating:
                shares[at < violating] = p_bad
            draws = np.array([rng.multinomial(size, s) for s in shares])
            p_values[at] = p_beyond_many(draws, q, limit)
        failed = adjusted_p_values(p_values, HARM) <= ALPHA
        false_fail += bool(failed[violating:].any())
        caught += failed[:violating].sum()
    return {"rate": false_fail / runs, "power": caught / (runs * violating) if violating else float("nan")}


def pooled_deviation_cell(
    occupations: int = 40, templates: int = 3, seeds: int = 10, *, tv: float, rho: float, runs: int = 400, seed: int = 0
) -> dict:
    """Groups that pool 3 templates of one occupation whose images share seeds (correlation ``rho`` on a latent
    scale) and whose templates shift the shares; the target is the occupation's average share over templates.
    Returns the false-fail rate (or power) of the rule on effective counts and the interval's coverage."""
    import pandas as pd

    from audit.stats.design_effect import cluster_dispersion

    rng = np.random.default_rng(seed)
    shifts = np.array([0.0, 0.08, -0.08])[:templates]
    base = 0.5 + tv  # the average share of the first label over templates
    truth_share = base
    rejected = covered = 0
    for _ in range(runs):
        z = rng.normal(size=(occupations, seeds))  # one latent per (occupation, seed), shared by its templates
        e = rng.normal(size=(occupations, templates, seeds))
        latent = math.sqrt(rho) * z[:, None, :] + math.sqrt(1 - rho) * e
        share = np.clip(base + shifts, 0.01, 0.99)
        labels = (stats.norm.cdf(latent) < share[None, :, None]).astype(int)
        frame = pd.DataFrame(
            {
                "occupation": np.repeat(np.arange(occupations), templates * seeds),
                "seed": np.tile(np.arange(seeds), occupations * templates),
                "label": np.where(labels.ravel() == 1, "a", "b"),
            }
        )
        phi = cluster_dispersion(frame, groups=["occupation"], cluster="seed", labels=["a", "b"])
        counts = np.stack([labels.sum(axis=(1, 2)), templates * seeds - labels.sum(axis=(1, 2))], axis=1)
        used = np.array([effective_counts(c, phi) for c in counts])
        p_values = p_beyond_many(used, [0.5, 0.5], LIMIT)  # every occupation has the same size
        rejected += bool((adjusted_p_values(p_values, HARM) <= ALPHA).any())
        low, high = interval(used[0], [0.5, 0.5])
        covered += low - 1e-9 <= abs(truth_share - 0.5) <= high + 1e-9
    return {"rate": rejected / runs, "coverage": covered / runs}


# --- rates --------------------------------------------------------------------------------------------


def rate_cell(n: int, rate: float, limit: float, *, decide: str = HARM) -> dict:
    """One group, exactly: the chance the rule fails (harm) or passes (safety) it, and the CP interval's coverage."""
    x = np.arange(n + 1)
    pmf = stats.binom.pmf(x, n, rate)
    if decide == HARM:
        rejected = p_rate_beyond(x, n, limit) <= ALPHA
    else:
        rejected = p_rate_within(x, n, limit) <= ALPHA
    low, high = clopper_pearson(x, n, 0.95)
    return {
        "rate": float(pmf[rejected].sum()),
        "coverage": float(pmf[(low - 1e-12 <= rate) & (rate <= high + 1e-12)].sum()),
        "exact": True,
    }


def rate_gate(prompts: int, n: int, rate: float, limit: float, *, runs: int = 4000, seed: int = 0) -> float:
    """Chance that a rate check over ``prompts`` prompts at the same true rate fails (harm, BH)."""
    rng = np.random.default_rng(seed)
    counts = rng.binomial(n, rate, size=(runs, prompts))
    p = p_rate_beyond(counts, n, limit)
    return float(np.mean([(adjusted_p_values(row, HARM) <= ALPHA).any() for row in p]))


def pooled_rate_coverage(prompts: int, n: int, mean: float, spread: float, *, runs: int = 2000, seed: int = 0) -> float:
    """Coverage of the pooled rate's interval when prompts' rates differ (Beta with the given mean and spread)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        if spread > 0:
            rates = rng.beta(mean * (1 / spread - 1), (1 - mean) * (1 / spread - 1), size=prompts)
        else:
            rates = np.full(prompts, mean)
        counts = rng.binomial(n, rates)
        result = pooled_rate(counts, np.full(prompts, n))
        hits += result["low"] <= rates.mean() <= result["high"]
    return hits / runs


# --- risk ratios --------------------------------------------------------------------------------------


def _paired_arms(rng, pairs: int, rate_b: float, ratio: float, correlation: float):
    """Paired binary outcomes with P(B) = rate_b, P(A) = ratio * rate_b, correlated through a shared latent."""
    rate_a = min(ratio * rate_b, 1.0)
    z = rng.normal(size=pairs)
    r = math.sqrt(correlation)
    a = stats.norm.cdf(r * z + math.sqrt(1 - r * r) * rng.normal(size=pairs)) < rate_a
    b = stats.norm.cdf(r * z + math.sqrt(1 - r * r) * rng.normal(size=pairs)) < rate_b
    return a, b


def ratio_cell(
    pairs: int,
    rate_b: float,
    ratio: float,
    *,
    paired: bool = True,
    limit: float = 1.5,
    decide: str = HARM,
    correlation: float = 0.3,
    seed_clusters: int = 0,
    seed_rho: float = 0.0,
    runs: int = 2000,
    seed: int = 0,
) -> dict:
    """Risk ratio A/B: the rule's failure (harm) or pass (safety) rate, the share of runs judged (not 0 vs 0
    events) and the coverage of the 95% interval among judged runs. ``seed_clusters`` > 0 groups the pairs
    into that many seeds, each with its own shift (``seed_rho``): pairs of several templates sharing seeds."""
    rng = np.random.default_rng(seed)
    rate_a = min(ratio * rate_b, 1.0)
    truth = rate_a / rate_b if rate_b > 0 else (math.inf if rate_a > 0 else math.nan)
    rejected = judged = covered = 0
    for _ in range(runs):
        if seed_clusters:
            ids = np.arange(pairs) % seed_clusters
            shift = rng.normal(size=seed_clusters)[ids]
            r = math.sqrt(seed_rho)
            za = r * shift + math.sqrt(1 - seed_rho) * rng.normal(size=pairs)
            zb = r * shift + math.sqrt(1 - seed_rho) * rng.normal(size=pairs)
            a, b = stats.norm.cdf(za) < rate_a, stats.norm.cdf(zb) < rate_b
            clusters = ids
        elif paired:
            a, b = _paired_arms(rng, pairs, rate_b, ratio, correlation)
            clusters = None
        else:
            a, b = rng.uniform(size=pairs) < rate_a, rng.uniform(size=pairs) < rate_b
            clusters = None
        if paired or seed_clusters:
            result = paired_ratio(a, b, limit, clusters=clusters)
        else:
            result = unpaired_ratio(int(a.sum()), pairs, int(b.sum()), pairs, limit)
        if not result["informative"]:
            continue
        judged += 1
        p = result["p_beyond"] if decide == HARM else result["p_within"]
        rejected += p <= ALPHA
        covered += result["low"] <= truth <= result["high"]
    return {
        "rate": rejected / runs,
        "judged": judged / runs,
        "coverage": covered / judged if judged else float("nan"),
    }


# --- amplification ------------------------------------------------------------------------------------


def bls_shares() -> np.ndarray:
    """The BLS 2022 share of women of the occupations suite's 185 occupations (0.7% to 97.6%)."""
    text = (resources.files("probes") / "suites" / "occupations.yaml").read_text(encoding="utf-8")
    return np.array([float(v) for v in re.findall(r"pct_women: ([0-9.]+)", text)]) / 100


def amplification_cell(
    slope: float,
    *,
    templates: int = 3,
    seeds: int = 10,
    template_effects: bool = True,
    seed_rho: float = 0.0,
    limit: float = 1.1,
    decide: str = HARM,
    runs: int = 300,
    seed: int = 0,
    shares: np.ndarray | None = None,
    seed_blocks: bool = False,
) -> dict:
    """The amplification rule on the BLS occupations: failure (harm) or pass (safety) rate, coverage, mean slope.

    Images of one seed share a latent (correlation ``seed_rho``) across every prompt, as when every prompt
    uses seeds 0..n-1 (with ``seed_blocks`` every prompt has seeds of its own); the per-image probability keeps
    its planted marginal."""
    rng = np.random.default_rng(seed)
    ref = bls_shares() if shares is None else np.asarray(shares)
    groups = len(ref)
    x = np.log(np.clip(ref, 0.005, 0.995) / (1 - np.clip(ref, 0.005, 0.995)))
    effects = np.linspace(-0.4, 0.5, templates) if template_effects else np.zeros(templates)
    occupation = np.repeat(np.arange(groups), templates * seeds)
    template = np.tile(np.repeat(np.arange(templates), seeds), groups)
    seed_of = np.tile(np.arange(seeds), groups * templates)
    if seed_blocks:
        seed_of = np.arange(groups * templates * seeds)  # every image its own seed: nothing shared
    prob = 1 / (1 + np.exp(-(slope * x[occupation] + effects[template] - 0.2)))
    rejected = covered = 0
    estimates = []
    for _ in range(runs):
        z = rng.normal(size=seed_of.max() + 1)[seed_of]
        latent = math.sqrt(seed_rho) * z + math.sqrt(1 - seed_rho) * rng.normal(size=len(prob))
        y = (stats.norm.cdf(latent) < prob).astype(float)
        # Shared seeds: errors clustered by occupation and by seed (as the check does); else by occupation.
        if seed_blocks:
            result = amplification(y, np.ones(len(y)), ref[occupation], clusters=occupation, templates=template)
        else:
            clusters = np.column_stack([occupation, seed_of])
            result = amplification(y, np.ones(len(y)), ref[occupation], clusters=clusters, templates=template)
        t = (result["slope"] - limit) / result["slope_se"]
        p = stats.t.sf(t, result["slope_df"]) if decide == HARM else stats.t.cdf(t, result["slope_df"])
        rejected += p <= ALPHA
        covered += result["slope_low"] <= slope <= result["slope_high"]
        estimates.append(result["slope"])
    return {"rate": rejected / runs, "coverage": covered / runs, "mean_slope": float(np.mean(estimates))}


# --- classifier correction ----------------------------------------------------------------------------


def corrected_cell(
    share: float, limit: float, *, images: int = 300, validation: int = 200, runs: int = 500, seed: int = 0
) -> dict:
    """A rate judged on shares corrected for a classifier that misses a quarter of true positives."""
    rng = np.random.default_rng(seed)
    true = np.array([share, 1 - share])
    rates = np.array([[0.75, 0.25], [0.1, 0.9]])
    rejected = covered = 0
    for _ in range(runs):
        observed = rng.multinomial(images, rates.T @ true)
        confusion = np.stack([rng.multinomial(validation, rates[i]) for i in range(2)])
        estimate, draws = corrected_draws(observed, confusion, samples=1000, rng=rng)
        tests = corrected_limit_tests(estimate, draws, None, limit, label=0)
        rejected += tests["p_beyond"] <= ALPHA
        low, high = tests["interval"]
        covered += low <= share <= high
    return {"rate": rejected / runs, "coverage": covered / runs}


# --- the grid -----------------------------------------------------------------------------------------


def _table(title: str, rows: list[dict], columns: list[str]) -> list[str]:
    lines = [title]
    cells = [columns] + [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return lines


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "exact" if value else "sim"
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.3f}"
    return str(value)


SECTIONS = ("deviation", "checks", "rates", "ratios", "amplification", "correction", "sequential")


def run_grid(
    quick: bool = False, log: Callable[[str], None] = print, sections: tuple[str, ...] = SECTIONS
) -> dict[str, float]:
    """Run every rule's scenarios (of the ``sections`` asked for), print their tables, and return the worst figures."""
    reps = 300 if quick else 1000
    runs = 200 if quick else 1000
    worst = {"false_fail": 0.0, "false_pass": 0.0, "coverage": 1.0}

    def record(row: dict, kind: str) -> dict:
        if kind == "harm-null":
            worst["false_fail"] = max(worst["false_fail"], row["rate"])
        elif kind == "safety-null":
            worst["false_pass"] = max(worst["false_pass"], row["rate"])
        if not math.isnan(row.get("coverage", float("nan"))):
            worst["coverage"] = min(worst["coverage"], row["coverage"])
        return row

    if "deviation" in sections:
        _deviation_section(record, reps, log)
    if "checks" in sections:
        _checks_section(record, runs, log)
    if "rates" in sections:
        _rates_section(record, runs, log)
    if "ratios" in sections:
        _ratios_section(record, runs, log)
    if "amplification" in sections:
        _amplification_section(record, 60 if quick else 300, log)
    if "correction" in sections:
        _correction_section(record, 300 if quick else 1500, log)
    if "sequential" in sections:
        _sequential_section(record, 40 if quick else 200, log)
        _sequential_ratio_section(record, 40 if quick else 200, log)
    return worst


def _deviation_section(record, reps: int, log) -> None:
    """Deviation, evidence of harm and of safety, one group."""
    rows = []
    references = {2: [[0.5, 0.5], [0.9, 0.1]], 3: [[1 / 3] * 3, [0.6, 0.4, 0.0]], 4: [[0.25] * 4], 5: [[0.2] * 5]}
    for k, qs in references.items():
        for q in qs:
            q = np.asarray(q)
            for n in (5, 10, 30, 100):
                for tv in (0.0, LIMIT / 2, LIMIT, 1.5 * LIMIT):
                    shapes = [("vertex", raise_first_take_last(q, tv))]
                    if tv == LIMIT and k > 2:
                        shapes.append(("spread", tilt_every_label(q, tv)))
                    for shape, p in shapes:
                        if p.max() > 1 or p.min() < 0:
                            continue
                        for decide in (HARM, SAFETY):
                            if decide == SAFETY and tv < LIMIT:
                                continue
                            cell = deviation_cell(n, q, p, decide=decide, reps=reps, coverage=decide == HARM)
                            kind = ("harm-null" if tv <= LIMIT else "power") if decide == HARM else "safety-null"
                            rows.append(
                                record(
                                    {
                                        "rule": decide.replace("evidence_of_", ""),
                                        "labels": k,
                                        "reference": ",".join(f"{v:.2g}" for v in q),
                                        "n": n,
                                        "tv": f"{tv:.2f}",
                                        "shape": shape,
                                        "kind": kind,
                                        **cell,
                                    },
                                    kind,
                                )
                            )
    for line in _table(
        "deviation (limit 0.2): error = fail rate when tv <= limit (harm) / pass rate when tv >= limit (safety)",
        rows,
        ["rule", "labels", "reference", "n", "tv", "shape", "kind", "rate", "coverage", "exact"],
    ):
        log(line)
    _safety_power_gain(record, log)


def safety_power_cell(n: int, q, p, *, limit: float = LIMIT) -> dict:
    """Evidence of safety for one group, exactly: the pass rate of the exact p_within and of the subset bound it
    replaced (issue 24), with the gain."""
    from audit.stats.distance_limits import subset_p_within_many

    q = np.asarray(q, float)
    outcomes = _outcome_vectors(n, len(q))
    weights = _multinomial_pmf(outcomes, n, np.asarray(p, float))
    exact = p_within_many(outcomes, q, limit) <= ALPHA
    bound = subset_p_within_many(n, q, distance(outcomes / n, q), limit, "tv") <= ALPHA
    rate, before = float(weights[exact].sum()), float(weights[bound].sum())
    return {"rate": rate, "bound_rate": before, "gain": rate - before, "exact": True}


def _proportional(q: np.ndarray, tv: float) -> np.ndarray:
    """q with its first label raised by ``tv`` and the others lowered in proportion (the worst case of the
    evidence-of-safety test with three labels)."""
    p = q.astype(float) * (1 - q[0] - tv) / (1 - q[0])
    p[0] = q[0] + tv
    return p


def _safety_power_gain(record, log) -> None:
    """The exact p_within against the subset bound: passes of compliant groups near the limit (power) and of
    groups at it (error), at the vertex and, with three labels, where the others keep their proportions."""
    rows = []
    for q in ([0.5, 0.5], [0.7, 0.3], [1 / 3] * 3, [0.5, 0.3, 0.2], [0.6, 0.4, 0.0]):
        q = np.asarray(q)
        for n in (10, 20, 30, 50, 100):
            for tv in (0.0, LIMIT / 2, 0.75 * LIMIT, LIMIT):
                shapes = [("vertex", raise_first_take_last(q, tv))]
                if tv == LIMIT and len(q) > 2:
                    shapes.append(("proportional", _proportional(q, tv)))
                for shape, p in shapes:
                    kind = "safety-null" if tv >= LIMIT else "power"
                    cell = safety_power_cell(n, q, p)
                    rows.append(
                        record(
                            {
                                "labels": len(q),
                                "reference": ",".join(f"{v:.2g}" for v in q),
                                "n": n,
                                "tv": f"{tv:.2f}",
                                "shape": shape,
                                "kind": kind,
                                **cell,
                            },
                            kind,
                        )
                    )
    for line in _table(
        "deviation, evidence of safety (limit 0.2): pass rate of the exact test (rate) and of the subset bound it "
        "replaced (bound_rate); power where tv < limit, error at the limit",
        rows,
        ["labels", "reference", "n", "tv", "shape", "kind", "rate", "bound_rate", "gain", "exact"],
    ):
        log(line)
    gains = [row["gain"] for row in rows if row["kind"] == "power"]
    log(f"safety_power_gain: mean {np.mean(gains):.4f}, largest {np.max(gains):.4f} over {len(gains)} power cells")


def _checks_section(record, runs: int, log) -> None:
    """Whole deviation checks: many and unequal groups, pooled groups with shared seeds."""
    gates = []
    for label, groups, n, tv in (
        ("555 prompts at limit/2, n=100", 555, 100, LIMIT / 2),
        ("555 prompts at limit/2, n=10", 555, 10, LIMIT / 2),
        ("50 prompts at the limit, n=30", 50, 30, LIMIT),
        ("24 prompts at the limit, n=100", 24, 100, LIMIT),
        ("40 prompts at the limit, n=5/10/30/100", 40, np.repeat([5, 10, 30, 100], 10), LIMIT),
    ):
        p = raise_first_take_last(np.array([0.5, 0.5]), tv)
        cell = gate_false_fail(groups, n, [0.5, 0.5], p, runs=runs // 2 if groups > 100 else runs)
        gates.append(record({"scenario": label, "groups": groups, "kind": "harm-null", **cell}, "harm-null"))
    for groups, n in ((24, seeds_needed(LIMIT, LIMIT / 2, prompts=24)), (555, 100)):
        p_ok = raise_first_take_last(np.array([0.5, 0.5]), LIMIT / 2)
        p_bad = raise_first_take_last(np.array([0.5, 0.5]), 1.5 * LIMIT)
        cell = gate_false_fail(groups, n, [0.5, 0.5], p_ok, runs=runs, violating=1, p_bad=p_bad, seed=3)
        planned = power_beyond(n, LIMIT, LIMIT / 2, prompts=groups)
        gates.append(
            record(
                {
                    "scenario": f"one prompt at 1.5 x limit among {groups} (n={n}), others at limit/2",
                    "groups": groups,
                    "kind": "harm-null",
                    "planned": planned,
                    **cell,
                },
                "harm-null",
            )
        )
    for rho in (0.0, 0.3):
        cell = pooled_deviation_cell(tv=LIMIT, rho=rho, runs=runs // 4)
        gates.append(
            record(
                {
                    "scenario": f"40 occupations x 3 templates x 10 shared seeds at the limit, rho={rho}",
                    "groups": 40,
                    "kind": "harm-null",
                    **cell,
                },
                "harm-null",
            )
        )
    for line in _table(
        "deviation, whole checks (BH across groups): rate = any compliant group fails",
        gates,
        ["scenario", "groups", "rate", "power", "planned", "coverage"],
    ):
        log(line)


def _rates_section(record, runs: int, log) -> None:
    rate_rows = []
    for limit in (0.0, 0.01, 0.05, 0.5):
        for n in (5, 10, 30, 100):
            for rate, kind in ((limit, "harm-null"), (limit / 2, "harm-null"), (min(1.0, 1.5 * limit + 0.01), "power")):
                cell = rate_cell(n, rate, limit)
                rate_rows.append(
                    record({"rule": "harm", "limit": limit, "n": n, "rate_true": rate, "kind": kind, **cell}, kind)
                )
            if limit > 0:
                cell = rate_cell(n, limit, limit, decide=SAFETY)
                rate_rows.append(
                    record(
                        {"rule": "safety", "limit": limit, "n": n, "rate_true": limit, "kind": "safety-null", **cell},
                        "safety-null",
                    )
                )
    for line in _table(
        "rates: exact binomial tests at the limit, Clopper-Pearson intervals",
        rate_rows,
        ["rule", "limit", "n", "rate_true", "kind", "rate", "coverage", "exact"],
    ):
        log(line)
    rate_gates = [
        record(
            {
                "scenario": "safety suite, 24 prompts x 20 seeds, true 0.5%, limit 1%",
                "rate": rate_gate(24, 20, 0.005, 0.01, runs=runs * 2),
            },
            "harm-null",
        ),
        record(
            {
                "scenario": "24 prompts x 100 seeds at the 1% limit",
                "rate": rate_gate(24, 100, 0.01, 0.01, runs=runs * 2),
            },
            "harm-null",
        ),
        record(
            {
                "scenario": "pooled rate, 24 prompts x 20, rates Beta(mean 2%), coverage",
                "coverage": pooled_rate_coverage(24, 20, 0.02, 0.05, runs=runs * 2),
            },
            "coverage",
        ),
        record(
            {
                "scenario": "pooled rate, 24 prompts x 20, one rate 0.5%, coverage",
                "coverage": pooled_rate_coverage(24, 20, 0.005, 0.0, runs=runs * 2),
            },
            "coverage",
        ),
    ]
    for line in _table("rates, whole checks", rate_gates, ["scenario", "rate", "coverage"]):
        log(line)


def _ratios_section(record, runs: int, log) -> None:
    ratio_rows = []
    for paired in (True, False):
        for pairs in (40, 240):
            for rate_b in (0.02, 0.05, 0.2):
                for ratio, kind in ((1.0, "harm-null"), (1.5, "harm-null"), (3.0, "power")):
                    if ratio * rate_b > 1:
                        continue
                    cell = ratio_cell(pairs, rate_b, ratio, paired=paired, runs=runs)
                    ratio_rows.append(
                        record(
                            {
                                "design": "paired" if paired else "unpaired",
                                "pairs": pairs,
                                "rate_b": rate_b,
                                "ratio": ratio,
                                "kind": kind,
                                **cell,
                            },
                            kind,
                        )
                    )
                cell = ratio_cell(pairs, rate_b, 1.5, paired=paired, decide=SAFETY, runs=runs)
                ratio_rows.append(
                    record(
                        {
                            "design": "paired" if paired else "unpaired",
                            "pairs": pairs,
                            "rate_b": rate_b,
                            "ratio": 1.5,
                            "kind": "safety-null",
                            "rule": "safety",
                            **cell,
                        },
                        "safety-null",
                    )
                )
    for rate_b, ratio, kind in ((0.05, 1.0, "harm-null"), (0.05, 1.5, "harm-null")):
        cell = ratio_cell(240, rate_b, ratio, seed_clusters=20, seed_rho=0.3, runs=runs)
        ratio_rows.append(
            record(
                {
                    "design": "paired, 12 templates share 20 seeds",
                    "pairs": 240,
                    "rate_b": rate_b,
                    "ratio": ratio,
                    "kind": kind,
                    **cell,
                },
                kind,
            )
        )
    zero = ratio_cell(40, 0.0, 1.0, runs=runs)
    ratio_rows.append(
        {"design": "paired, 0 vs 0 events", "pairs": 40, "rate_b": 0.0, "ratio": "-", "kind": "not judged", **zero}
    )
    women = ratio_cell(40, 0.001, 250.0, runs=runs)  # about 25% vs 0.1%: zero events in one arm mostly
    ratio_rows.append(
        record(
            {"design": "paired, 25% vs ~0", "pairs": 40, "rate_b": 0.001, "ratio": 250.0, "kind": "power", **women},
            "power",
        )
    )
    for line in _table(
        "risk ratio (limit 1.5): score tests, paired (Tang) and unpaired (Miettinen-Nurminen)",
        ratio_rows,
        ["design", "pairs", "rate_b", "ratio", "kind", "rule", "rate", "judged", "coverage"],
    ):
        log(line)


def _amplification_section(record, amp_runs: int, log) -> None:
    amp_rows = []
    for slope, kind in ((1.0, "harm-null"), (1.1, "harm-null"), (1.5, "power")):
        for effects, rho in ((False, 0.0), (True, 0.0), (True, 0.1)):
            cell = amplification_cell(slope, template_effects=effects, seed_rho=rho, runs=amp_runs)
            amp_rows.append(
                record({"slope": slope, "template_effects": str(effects), "seed_rho": rho, "kind": kind, **cell}, kind)
            )
    cell = amplification_cell(1.1, decide=SAFETY, runs=amp_runs)
    amp_rows.append(
        record(
            {
                "slope": 1.1,
                "template_effects": "True",
                "seed_rho": 0.0,
                "kind": "safety-null",
                "rule": "safety",
                **cell,
            },
            "safety-null",
        )
    )
    for line in _table(
        "amplification (limit 1.1): 185 BLS occupations x 3 templates x 10 shared seeds, GLM, clustered",
        amp_rows,
        ["slope", "template_effects", "seed_rho", "kind", "rule", "rate", "coverage", "mean_slope"],
    ):
        log(line)
    # Outside the method's range, shown, not part of the goal: strong seed correlation with 10 shared seeds.
    beyond = [
        {"slope": 1.1, "seed_rho": 0.3, "kind": "harm-null", **amplification_cell(1.1, seed_rho=0.3, runs=amp_runs)},
        {
            "slope": 1.1,
            "seed_rho": 0.3,
            "seeds": "blocks",
            "kind": "harm-null",
            **amplification_cell(1.1, seed_rho=0.3, runs=amp_runs, seed_blocks=True),
        },
    ]
    for line in _table(
        "amplification, known limit (not in the summary): strong shared-seed correlation; a block of seeds per "
        "prompt removes it",
        beyond,
        ["slope", "seed_rho", "seeds", "kind", "rate", "coverage", "mean_slope"],
    ):
        log(line)


def _correction_section(record, corr_runs: int, log) -> None:
    corr_rows = []
    for share, limit, kind in (
        (0.3, 0.3, "harm-null"),
        (0.2, 0.3, "harm-null"),
        (0.05, 0.05, "harm-null"),
        (0.02, 0.05, "harm-null"),
        (0.45, 0.3, "power"),
        (0.12, 0.05, "power"),
    ):
        cell = corrected_cell(share, limit, runs=corr_runs)
        corr_rows.append(record({"true_share": share, "limit": limit, "kind": kind, **cell}, kind))
    for line in _table(
        "corrected shares (confusion matrix resampled): rate rule on the corrected share",
        corr_rows,
        ["true_share", "limit", "kind", "rate", "coverage"],
    ):
        log(line)


# --- sequential ---------------------------------------------------------------------------------------


def _draw_labels(rng, truths: np.ndarray, budget: int, templates: int, rho: float) -> np.ndarray:
    """Label indices (groups, templates, budget); ``truths`` (G, K) for every template of a group, or (G, J, K)
    one per template. With two labels and ``rho`` > 0 the templates of a group share a latent per seed position
    (images made from one seed), as in :func:`pooled_deviation_cell`."""
    per_template = truths if truths.ndim == 3 else np.repeat(truths[:, None, :], templates, axis=1)
    groups, templates, k = per_template.shape
    if k == 2 and rho > 0:
        z = rng.normal(size=(groups, 1, budget))
        e = rng.normal(size=(groups, templates, budget))
        latent = math.sqrt(rho) * z + math.sqrt(1 - rho) * e
        return (stats.norm.cdf(latent) >= per_template[:, :, None, 0]).astype(int)
    cumulative = np.cumsum(per_template, axis=-1)
    u = rng.random((groups, templates, budget))
    return (u[..., None] > cumulative[:, :, None, :-1]).sum(axis=-1)


def group_truth(truths, q, metric: str = "tv") -> np.ndarray:
    """Each group's estimand (:mod:`audit.stats.group_estimand`: its templates' shares averaged), as the metric a
    check judges: (G,) from ``truths`` (G, K) or (G, J, K)."""
    truths = np.asarray(truths, float)
    mean = truths.mean(axis=1) if truths.ndim == 3 else truths
    if metric == "rate":
        return mean[:, 0]
    return np.array([float(distance(t, q, metric)) for t in mean])


def _fixed_flags(codes: np.ndarray, k: int, q, *, limit: float, alpha: float, decide: str, metric: str) -> np.ndarray:
    """The fixed design's verdicts on ``codes`` (G, J, n; -1 abstained) as the findings reach them: the group
    estimand's counts (:func:`prompt_weighted_counts`), the limit tests, then BH (harm) or Bonferroni (safety)."""
    per_prompt = (codes[..., None] == np.arange(k)).sum(axis=2)  # (G, J, K)
    weighted = np.array([effective_counts(prompt_weighted_counts(c), 1.0) for c in per_prompt])
    totals = weighted.sum(axis=1)
    if metric == "rate":
        p = (
            p_rate_beyond(weighted[:, 0], totals, limit)
            if decide == HARM
            else p_rate_within(weighted[:, 0], totals, limit)
        )
    elif (totals == totals[0]).all():
        p = (p_beyond_many if decide == HARM else p_within_many)(weighted, q, limit, metric)
    else:
        test = p_beyond if decide == HARM else p_within
        p = np.array([test(c, q, limit, metric) for c in weighted])
    return adjusted_p_values(np.asarray(p, float), decide) <= alpha


def simulate_check(
    rng,
    truths: np.ndarray,
    q: np.ndarray,
    *,
    limit: float,
    alpha: float,
    decide: str,
    budget: int,
    round_size: int,
    fixed_n: int | None = None,
    templates: int = 1,
    rho: float = 0.0,
    metric: str = "tv",
    min_judged: int = 10,
    cover: int = 0,
    futility: float | None = FUTILITY,
    abstain=None,
    horizon: int | None = None,
    curtail: bool = False,
) -> dict:
    """One simulated audit of one check under both designs on the same draws: per group, the sequential design's
    images used and verdict (fails for harm, passes for safety), the fixed design's verdict on its first
    ``fixed_n`` seeds (None: no fixed design), and whether the sequential 95% confidence sequence at the stop
    covers the truth (the first ``cover`` groups).

    ``truths``: (G, K) or (G, J, K) per template; ``abstain``: each template's chance to abstain ((J,) or (G, J);
    None: never); ``horizon``: seeds drawn (default the longer design's), so that calls with one generator state
    and one horizon see the same draws whatever their budgets. Both designs decide as the findings do
    (:func:`final_verdicts`, and the fixed tests on the group estimand's counts).
    """
    truths = np.asarray(truths, float)
    templates = truths.shape[1] if truths.ndim == 3 else templates
    groups, k = truths.shape[0], truths.shape[-1]
    directions = metric_directions("rate", q, label=0) if metric == "rate" else metric_directions(metric, q)
    truth = group_truth(truths, q, metric)
    longest = max(budget, fixed_n or 0, horizon or 0)
    codes = _draw_labels(rng, truths, longest, templates, rho)
    if abstain is not None:
        chance = np.broadcast_to(np.asarray(abstain, float), (groups, templates))
        codes = np.where(rng.random(codes.shape) < chance[:, :, None], -1, codes)
    blocks = prompt_blocks(codes[:, :, :budget], k)
    evidence = batch_evidence(blocks.shares, directions, limit)
    trajs = []
    for g in range(groups):
        b = int(blocks.counts[g])
        trajs.append(
            trajectory(
                blocks.shares[g, :b],
                blocks.ends[g, :b],
                blocks.judged[g, :b],
                blocks.images[g, :b],
                directions,
                limit,
                evidence=(evidence[0][g, :b], evidence[1][g, :b]),
            )
            if b
            else None
        )
    rounds = math.ceil(budget / round_size)
    outcomes = stop_rule(
        trajs,
        decide=decide,
        alpha=alpha,
        round_size=round_size,
        rounds=rounds,
        rounds_done=rounds,
        min_judged=min_judged,
        futility=futility,
        curtail=curtail,
    )
    verdicts = final_verdicts(
        [o.log_beyond for o in outcomes], [o.log_within for o in outcomes], decide=decide, alpha=alpha, m=groups
    )
    used = np.array([min(o.round * round_size, budget) if o.round else budget for o in outcomes]) * templates
    out = {"truth": truth, "used": used, "flagged": verdicts.flagged}
    if fixed_n is not None and (templates == 1 or rho == 0):
        out["fixed_flagged"] = _fixed_flags(
            codes[:, :, :fixed_n], k, q, limit=limit, alpha=alpha, decide=decide, metric=metric
        )
    covered = []
    for g in range(min(cover, groups)):
        if trajs[g] is None or outcomes[g].t == 0:
            continue
        low, high = trajs[g].bounds(0.95, outcomes[g].t)
        covered.append(low[-1] - 1e-9 <= truth[g] <= high[-1] + 1e-9)
    out["covered"] = np.array(covered, dtype=bool)
    return out


def sequential_world(
    truths,
    q,
    *,
    limit: float = LIMIT,
    alpha: float = ALPHA,
    decide: str = HARM,
    budget: int = 100,
    fixed_n: int | None = None,
    round_size: int = 16,
    runs: int = 200,
    seed: int = 0,
    templates: int = 1,
    rho: float = 0.0,
    metric: str = "tv",
    min_judged: int = 10,
    cover: int = 20,
    futility: float | None = FUTILITY,
    abstain=None,
    curtail: bool = False,
) -> dict:
    """Whole checks of the sequential design (:mod:`audit.stats.sequential`), and of the fixed design on the first
    ``fixed_n`` seeds (default: the budget) of the same draws, over ``runs`` simulated audits.

    Returns the chance a compliant group fails (harm) or a group at or beyond the limit passes (safety) under
    each design, the share of truly-beyond groups each catches, the images each makes, and the coverage of the
    sequential 95% confidence sequence at each group's stopping time (over the first ``cover`` groups).
    """
    rng = np.random.default_rng(seed)
    truths = np.asarray(truths, float)
    q = np.asarray(q, float)
    fixed_n = budget if fixed_n is None else fixed_n
    errors = {"sequential": 0, "fixed": 0}
    caught = {"sequential": 0, "fixed": 0}
    images = 0
    covered: list[np.ndarray] = []
    templates = truths.shape[1] if truths.ndim == 3 else templates
    has_fixed = templates == 1 or rho == 0
    for _ in range(runs):
        sim = simulate_check(
            rng,
            truths,
            q,
            limit=limit,
            alpha=alpha,
            decide=decide,
            budget=budget,
            round_size=round_size,
            fixed_n=fixed_n,
            templates=templates,
            rho=rho,
            metric=metric,
            min_judged=min_judged,
            cover=cover,
            futility=futility,
            abstain=abstain,
            curtail=curtail,
        )
        beyond = sim["truth"] > limit + 1e-12
        wrong = ~beyond if decide == HARM else sim["truth"] >= limit - 1e-12
        images += int(sim["used"].sum())
        covered.append(sim["covered"])
        for design, flagged in (("sequential", sim["flagged"]), ("fixed", sim.get("fixed_flagged"))):
            if flagged is None:
                continue
            errors[design] += bool((flagged & wrong).any())
            caught[design] += int((flagged & beyond).sum()) if decide == HARM else 0
    violating = int((sim["truth"] > limit + 1e-12).sum()) * runs
    hits = np.concatenate(covered) if covered else np.array([])
    return {
        "rate": errors["sequential"] / runs,
        "fixed_rate": errors["fixed"] / runs if has_fixed else float("nan"),
        "power": caught["sequential"] / violating if violating and decide == HARM else float("nan"),
        "fixed_power": caught["fixed"] / violating if violating and decide == HARM and has_fixed else float("nan"),
        "images": images / runs,
        "fixed_images": float(len(truths) * templates * fixed_n),
        "coverage": float(hits.mean()) if len(hits) else float("nan"),
    }


def curtailed_cells() -> list[tuple[str, dict]]:
    """The design with curtailment (``sampling.curtail``): at the limit, near it, and one violation among many."""
    at = raise_first_take_last(np.array([0.5, 0.5]), LIMIT)
    near = raise_first_take_last(np.array([0.5, 0.5]), 0.75 * LIMIT)
    half = raise_first_take_last(np.array([0.5, 0.5]), LIMIT / 2)
    bad = raise_first_take_last(np.array([0.5, 0.5]), 1.5 * LIMIT)
    return [
        ("curtailed: 50 prompts at the limit, budget 400", dict(truths=np.tile(at, (50, 1)), budget=400, curtail=True)),
        (
            "curtailed: 50 prompts at 0.75 x limit, budget 400",
            dict(truths=np.tile(near, (50, 1)), budget=400, curtail=True),
        ),
        (
            "curtailed: one prompt at 1.5 x limit among 24 at limit/2, budget 400",
            dict(truths=np.vstack([bad, np.tile(half, (23, 1))]), budget=400, curtail=True),
        ),
    ]


def uneven_abstention_cells() -> list[tuple[str, dict]]:
    """Groups whose prompts abstain at different rates (the group estimand weights prompts equally): the issue's
    severe and mild cases, groups exactly at the limit, 3 labels, rates and certification."""
    q3 = np.full(3, 1 / 3)
    at3 = [
        raise_first_take_last(q3, LIMIT + 0.1),
        raise_first_take_last(q3, LIMIT - 0.1),
        raise_first_take_last(q3, LIMIT),
    ]  # mean: TV 0.2 from parity
    return [
        (
            "severe: 2 prompts, 95% / 5% 'man', the second abstaining 60%, budget 400",
            dict(truths=[[[0.95, 0.05], [0.05, 0.95]]] * 4, budget=400, abstain=[0, 0.6]),
        ),
        (
            "mild: 2 prompts, 80% / 50% 'man', the second abstaining 50%, budget 400",
            dict(truths=[[[0.8, 0.2], [0.5, 0.5]]] * 4, budget=400, abstain=[0, 0.5]),
        ),
        (
            "20 groups of 2 prompts at the limit (90% / 50%), the second abstaining 60%, budget 160",
            dict(truths=[[[0.9, 0.1], [0.5, 0.5]]] * 20, budget=160, abstain=[0, 0.6]),
        ),
        (
            "20 groups of 2 prompts at the limit (90% / 50%), the first abstaining 60%, budget 160",
            dict(truths=[[[0.9, 0.1], [0.5, 0.5]]] * 20, budget=160, abstain=[0.6, 0]),
        ),
        (
            "20 groups of 3 prompts at the limit, 3 labels, abstaining 0 / 20 / 50%, budget 100",
            dict(truths=[at3] * 20, q=q3, budget=100, abstain=[0, 0.2, 0.5]),
        ),
        (
            "50 groups of 2 prompts at rate = limit 0.05 (2% / 8%), the second abstaining 40%, budget 100",
            dict(
                truths=[[[0.02, 0.98], [0.08, 0.92]]] * 50,
                budget=100,
                metric="rate",
                limit=0.05,
                abstain=[0, 0.4],
            ),
        ),
        (
            "10 groups of 2 prompts at the limit, certification, the second abstaining 60%, budget 400",
            dict(truths=[[[0.9, 0.1], [0.5, 0.5]]] * 10, budget=400, decide=SAFETY, abstain=[0, 0.6]),
        ),
    ]


def sequential_ratio_world(
    rate_b: float,
    ratio: float,
    *,
    groups: int = 10,
    limit: float = 1.5,
    paired: bool = True,
    correlation: float = 0.3,
    budget: int = 400,
    round_size: int = 16,
    runs: int = 200,
    alpha: float = ALPHA,
    decide: str = HARM,
    futility: float | None = FUTILITY,
    seed: int = 0,
    cover: int = 10,
) -> dict:
    """Whole risk-ratio checks of the sequential design (:mod:`audit.stats.sequential_ratio`): ``groups`` strata
    each with arms at rates ``ratio * rate_b`` and ``rate_b``, seed-paired (correlated through a shared latent) or
    independent. Returns the chance a compliant check fails (harm; at or beyond the limit passes: safety), the
    share of truly-beyond groups caught, the mean share of the budget used and the coverage of the 95% confidence
    sequence at the stop; decisions through :func:`final_verdicts`, as the findings make them."""
    rng = np.random.default_rng(seed)
    truth = min(ratio * rate_b, 1.0) / rate_b
    errors = caught = 0
    used = 0.0
    covered = []
    beyond = truth > limit + 1e-12
    wrong = (not beyond) if decide == HARM else truth >= limit - 1e-12
    for _ in range(runs):
        trajs = []
        for _g in range(groups):
            if paired:
                a, b = _paired_arms(rng, budget, rate_b, ratio, correlation)
            else:
                a = rng.random(budget) < min(ratio * rate_b, 1.0)
                b = rng.random(budget) < rate_b
            n = np.arange(1, budget + 1)
            trajs.append(RatioTrajectory(np.arange(budget), a.astype(float), b.astype(float), n, 2 * n, limit))
        rounds = math.ceil(budget / round_size)
        outcomes = stop_rule(
            trajs,
            decide=decide,
            alpha=alpha,
            round_size=round_size,
            rounds=rounds,
            rounds_done=rounds,
            min_judged=10,
            futility=futility,
        )
        verdicts = final_verdicts(
            [o.log_beyond for o in outcomes], [o.log_within for o in outcomes], decide=decide, alpha=alpha, m=groups
        )
        errors += bool(verdicts.flagged.any()) and wrong
        caught += int(verdicts.flagged.sum()) if beyond and decide == HARM else 0
        used += sum(o.t for o in outcomes) / (groups * budget)
        for g in range(min(cover, groups)):
            low, high = trajs[g].bounds(0.95, outcomes[g].t)
            covered.append(low[-1] * (1 - 1e-9) <= truth <= high[-1] * (1 + 1e-9))
    return {
        "rate": errors / runs,
        "power": caught / (groups * runs) if beyond and decide == HARM else float("nan"),
        "images_ratio": used / runs,
        "coverage": float(np.mean(covered)) if covered else float("nan"),
    }


def _sequential_ratio_section(record, runs: int, log) -> None:
    cells = [
        ("paired at the limit 1.5 (0.15 vs 0.10), rho 0.3", dict(rate_b=0.1, ratio=1.5)),
        ("paired at the limit 1.5 (0.45 vs 0.30), rho 0.6", dict(rate_b=0.3, ratio=1.5, correlation=0.6)),
        ("independent arms at the limit 1.5 (0.30 vs 0.20)", dict(rate_b=0.2, ratio=1.5, paired=False)),
        ("paired at ratio 1 (0.2 vs 0.2)", dict(rate_b=0.2, ratio=1.0)),
        ("paired at ratio 3 (0.3 vs 0.1): power", dict(rate_b=0.1, ratio=3.0)),
        ("paired at the limit, certification", dict(rate_b=0.2, ratio=1.5, decide=SAFETY)),
    ]
    rows = []
    for i, (label, kwargs) in enumerate(cells):
        cell = sequential_ratio_world(runs=runs, seed=300 + i, **kwargs)
        kind = "harm-null" if kwargs.get("decide", HARM) == HARM else "safety-null"
        rows.append(record({"scenario": label, "kind": kind, **cell}, kind))
    for line in _table(
        "sequential risk ratios (10 strata, budget 400 pairs, rounds of 16, e-BH / Bonferroni)",
        rows,
        ["scenario", "kind", "rate", "power", "images_ratio", "coverage"],
    ):
        log(line)


def _sequential_section(record, runs: int, log) -> None:
    """The sequential design's hard cases: many prompts at half the limit, one beyond among many, small and large
    budgets, 2-5 labels, shared seeds, rates near 0, certification at the limit."""
    half = raise_first_take_last(np.array([0.5, 0.5]), LIMIT / 2)
    at = raise_first_take_last(np.array([0.5, 0.5]), LIMIT)
    bad = raise_first_take_last(np.array([0.5, 0.5]), 1.5 * LIMIT)
    cells = [
        ("555 prompts at limit/2, budget 100", dict(truths=np.tile(half, (555, 1)), budget=100)),
        ("555 prompts at limit/2, budget 408", dict(truths=np.tile(half, (555, 1)), budget=408)),
        ("50 prompts at the limit, budget 30", dict(truths=np.tile(at, (50, 1)), budget=30)),
        ("50 prompts at the limit, budget 400", dict(truths=np.tile(at, (50, 1)), budget=400)),
        (
            "one prompt at 1.5 x limit among 555 at limit/2, budget 408",
            dict(truths=np.vstack([bad, np.tile(half, (554, 1))]), budget=408),
        ),
        (
            "one prompt at 1.5 x limit among 24 at limit/2, budget 100",
            dict(truths=np.vstack([bad, np.tile(half, (23, 1))]), budget=100),
        ),
        (
            "40 occupations x 3 templates x 32 shared seeds at the limit, rho=0",
            dict(truths=np.tile(at, (40, 1)), budget=32, templates=3),
        ),
        (
            "40 occupations x 3 templates x 32 shared seeds at the limit, rho=0.3",
            dict(truths=np.tile(at, (40, 1)), budget=32, templates=3, rho=0.3),
        ),
        (
            "200 prompts at rate = limit 0.05, budget 100",
            dict(truths=np.tile([0.05, 0.95], (200, 1)), budget=100, metric="rate", limit=0.05),
        ),
        (
            "200 prompts at rate 0, zero tolerance, budget 50",
            dict(truths=np.tile([0.0, 1.0], (200, 1)), budget=50, metric="rate", limit=0.0),
        ),
    ]
    for k in (3, 4, 5):
        q = np.full(k, 1 / k)
        cells.append(
            (
                f"40 prompts at the limit, {k} labels, budget 100",
                dict(truths=np.tile(raise_first_take_last(q, LIMIT), (40, 1)), q=q, budget=100),
            )
        )
        cells.append(
            (
                f"40 prompts at the limit (spread), {k} labels, budget 100",
                dict(truths=np.tile(tilt_every_label(q, LIMIT), (40, 1)), q=q, budget=100),
            )
        )
    cells.append(
        (
            "10 groups at the limit, certification, budget 100",
            dict(truths=np.tile(at, (10, 1)), budget=100, decide=SAFETY),
        )
    )
    cells.append(
        (
            "10 groups at the limit, certification, budget 1000",
            dict(truths=np.tile(at, (10, 1)), budget=1000, decide=SAFETY),
        )
    )
    q3 = np.full(3, 1 / 3)
    cells.append(
        (
            "10 groups at the limit, certification, 3 labels, budget 400",
            dict(truths=np.tile(tilt_every_label(q3, LIMIT), (10, 1)), q=q3, budget=400, decide=SAFETY),
        )
    )
    cells.extend(uneven_abstention_cells())
    cells.extend(curtailed_cells())
    rows = []
    for i, (label, kwargs) in enumerate(cells):
        kwargs.setdefault("q", np.array([0.5, 0.5]) if kwargs.get("metric") != "rate" else np.zeros(2))
        decide = kwargs.get("decide", HARM)
        groups = len(kwargs["truths"])
        cell = sequential_world(runs=runs if groups <= 100 else max(runs // 4, 10), seed=100 + i, **kwargs)
        kind = "harm-null" if decide == HARM else "safety-null"
        row = {"scenario": label, "kind": kind, **cell, "images_ratio": cell["images"] / cell["fixed_images"]}
        rows.append(record(row, kind))
    for line in _table(
        "sequential (rounds of 16 seeds, betting e-processes, e-BH / Bonferroni): rate = any compliant group fails "
        "(harm) or any group at the limit passes (safety); coverage of the 95% confidence sequence at the stop",
        rows,
        ["scenario", "kind", "rate", "fixed_rate", "power", "fixed_power", "images_ratio", "coverage"],
    ):
        log(line)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer simulations")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="run these rules only")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    worst = run_grid(quick=args.quick, sections=tuple(args.only))
    print(f"worst_false_fail_rate: {worst['false_fail']:.4f}")
    print(f"worst_false_pass_rate: {worst['false_pass']:.4f}")
    print(f"worst_coverage: {worst['coverage']:.4f}")
    print(f"({time.perf_counter() - start:.0f} s; alpha {ALPHA}, goals: error <= {ALPHA + 0.01:.2f}, coverage >= 0.93)")


if __name__ == "__main__":
    main()
