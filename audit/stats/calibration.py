"""Calibration of the statistics by simulation: coverage, false discovery rate and power on planted truths.

Run ``python -m audit.stats.calibration`` to print the figures (about 20 s);
the tests in tests/audit/stats assert the same properties on their own
simulations.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from audit.stats.amplification import amplification
from audit.stats.correction import corrected_intervals
from audit.stats.deviation import bootstrap_intervals, deviations, tv_distance
from audit.stats.intervals import goodman_intervals, wilson_interval
from audit.stats.multiple_testing import benjamini_hochberg
from audit.stats.paired import paired_comparison
from audit.stats.planning import detection_power


def _labels(audits: int, shares: np.ndarray, n: int, rng: np.random.Generator) -> pd.DataFrame:
    groups, k = shares.shape
    u = rng.uniform(size=(audits, groups, n, 1))
    drawn = (u > np.cumsum(shares, axis=1)[None, :, None, :]).sum(axis=-1)
    audit, group, _ = np.indices((audits, groups, n)).reshape(3, -1)
    names = np.array([f"l{j}" for j in range(k)])
    return pd.DataFrame(
        {
            "record_id": np.arange(audits * groups * n).astype(str),
            "classifier": "sim",
            "attribute": "a",
            "label": names[drawn.ravel()],
            "audit": audit,
            "group": group,
        }
    )


def wilson_coverage(share: float, n: int, audits: int, rng: np.random.Generator) -> float:
    counts = rng.binomial(n, share, size=audits)
    low, high = wilson_interval(counts, n)
    return float(np.mean((low <= share) & (share <= high)))


def goodman_coverage(shares, n: int, audits: int, rng: np.random.Generator) -> float:
    shares = np.asarray(shares)
    low, high = goodman_intervals(rng.multinomial(n, shares, size=audits))
    return float(np.mean(np.all((low <= shares) & (shares <= high), axis=1)))


def tv_bootstrap_coverage(shares, n: int, audits: int, rng: np.random.Generator) -> float:
    shares = np.asarray(shares)
    q = np.full(len(shares), 1 / len(shares))
    truth = tv_distance(shares, q)
    counts = rng.multinomial(n, shares, size=audits)
    low, high = bootstrap_intervals(counts, np.tile(q, (audits, 1)), metrics=("tv",), samples=400, rng=rng)["tv"]
    return float(np.mean((low <= truth) & (truth <= high)))


def bh_fdr(audits: int, nulls: int, alternatives: int, n: int, rng: np.random.Generator) -> float:
    shares = np.array([[0.5, 0.5]] * nulls + [[0.7, 0.3]] * alternatives)
    table = deviations(_labels(audits, shares, n, rng), by=["audit", "group"], bootstrap=2)
    p = table.pivot(index="audit", columns="group", values="p_value").to_numpy()
    rejected = np.stack([benjamini_hochberg(row) for row in p]) < 0.05
    return float(np.mean(rejected[:, :nulls].sum(axis=1) / np.maximum(rejected.sum(axis=1), 1)))


def power(shares, n: int, audits: int, rng: np.random.Generator) -> tuple[float, float]:
    """(simulated, predicted) power of the deviation test at 0.05 against parity."""
    shares = np.array([shares])
    table = deviations(_labels(audits, shares, n, rng), by=["audit"], bootstrap=2)
    tv = float(tv_distance(shares[0], np.full(shares.shape[1], 1 / shares.shape[1])))
    return float(np.mean(table.p_value < 0.05)), float(detection_power(n, tv, shares.shape[1]))


def correction_coverage(audits: int, rng: np.random.Generator) -> float:
    true = np.array([0.7, 0.3])
    rates = np.array([[0.75, 0.25], [0.1, 0.9]])
    observed = rng.multinomial(300, rates.T @ true, size=audits)
    confusion = np.stack([rng.multinomial(200, rates[i], size=audits) for i in range(2)], axis=1)
    _, low, high = corrected_intervals(observed, confusion, samples=400, rng=rng)
    return float(np.mean((low[:, 0] <= true[0]) & (true[0] <= high[:, 0])))


def paired_coverage(audits: int, rng: np.random.Generator) -> tuple[float, float]:
    latent = rng.uniform(size=(audits, 150))
    a, b = latent < 0.30, (latent < 0.15) | (latent > 0.95)
    results = [paired_comparison(a[i], b[i]) for i in range(audits)]
    rd = np.mean([r["rd_low"] <= 0.1 <= r["rd_high"] for r in results])
    rr = np.mean([r["rr_low"] <= 1.5 <= r["rr_high"] for r in results])
    return float(rd), float(rr)


def slope_coverage(audits: int, rng: np.random.Generator, slope: float = 1.4) -> float:
    hits = 0
    for _ in range(audits):
        ref = rng.uniform(0.1, 0.9, size=30)
        model = 1 / (1 + np.exp(-slope * np.log(ref / (1 - ref))))
        r = amplification(rng.binomial(200, model), np.full(30, 200), ref)
        hits += r["slope_low"] <= slope <= r["slope_high"]
    return hits / audits


def main() -> None:
    rng = np.random.default_rng(2026)
    start = time.perf_counter()
    lines = [
        ("Wilson 95%, share 0.3, n=50 (4000 audits)", f"{wilson_coverage(0.3, 50, 4000, rng):.3f}"),
        ("Wilson 95%, share 0.12, n=200", f"{wilson_coverage(0.12, 200, 4000, rng):.3f}"),
        (
            "Goodman 95% simultaneous, 4 labels, n=150",
            f"{goodman_coverage([0.5, 0.25, 0.15, 0.1], 150, 4000, rng):.3f}",
        ),
        ("bootstrap TV 95%, TV 0.167, n=150 (1000)", f"{tv_bootstrap_coverage([0.5, 0.3, 0.2], 150, 1000, rng):.3f}"),
        ("BH FDR at 0.05, 20 null groups, n=60 (1000 runs)", f"{bh_fdr(1000, 20, 0, 60, rng):.3f}"),
        ("BH FDR at 0.05, 16 null + 4 true groups (1000 runs)", f"{bh_fdr(1000, 16, 4, 60, rng):.3f}"),
        (
            "power, TV 0.15, 2 labels, n=100: simulated/planned",
            "{:.3f} / {:.3f}".format(*power([0.65, 0.35], 100, 2000, rng)),
        ),
        (
            "power, TV 0.15, 4 labels, n=100: simulated/planned",
            "{:.3f} / {:.3f}".format(*power([0.325, 0.325, 0.175, 0.175], 100, 2000, rng)),
        ),
        ("corrected share 95% (confusion resampled, 1000)", f"{correction_coverage(1000, rng):.3f}"),
        ("paired RD / RR 95% (2000)", "{:.3f} / {:.3f}".format(*paired_coverage(2000, rng))),
        ("amplification slope 95% (1000)", f"{slope_coverage(1000, rng):.3f}"),
    ]
    width = max(len(name) for name, _ in lines)
    for name, value in lines:
        print(f"{name.ljust(width)}  {value}")
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
