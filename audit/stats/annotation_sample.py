"""How many of a run's images a person should label, and which: a stratified sample sized for a target interval.

The sample is stratified by the classifier's label and by prompt with
proportional allocation: each stratum gets its share of the run's images
(largest remainders, at least one image for a stratum that has any while
the sample allows), so the labelled sample's confusion matrix estimates the
run's own without weights, and every label and prompt is seen.

Its size comes from the width wanted for the 95% interval of each corrected
share, as the audit computes it: the confusion matrix over decided labels
inverted, with a parametric bootstrap that resamples the matrix, the
abstention rates and the run's counts (:mod:`audit.stats.correction`). That
width depends on how well the classifier tells the labels apart, which is
what the labelling will measure, so :func:`labels_for_width` plans under a
stated assumption: true shares as the run's own shares of decided labels,
its abstention rate, and a classifier right on ``accuracy`` of the images it
decides (its errors spread evenly over the other labels). It simulates labelled samples of
growing size and returns the smallest whose widest corrected interval is
within the target on average; a correction the guard would refuse counts as
width 1. (Were the labels used directly — each classifier label's images
re-read by their true labels — n = (z / width)^2 would do in the worst case;
the matrix correction, valid for validations from elsewhere too, needs more.)
Images a person sets aside (not a person, unsure) are added on top.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np


# Sample sizes tried when planning, smallest first.
PLAN_SIZES = (20, 30, 40, 50, 60, 80, 100, 120, 150, 200, 250, 300, 400, 500, 650, 800, 1000, 1300, 1600, 2000)


def labels_for_width(
    width: float,
    decided_shares: Sequence[float],
    *,
    abstention: float = 0.0,
    accuracy: float = 0.8,
    confidence: float = 0.95,
    set_aside: float = 0.1,
    images: int = 2000,
    runs: int = 60,
    seed: int = 0,
) -> dict[str, Any]:
    """Labels to take so that each corrected share's interval is at most ``width`` wide, planned by simulation.

    ``decided_shares``: the run's shares of the labels the classifier decided; ``abstention``: its share of
    abstentions; ``images``: the run's size. Returns ``usable`` (labelled images that must count),
    ``size`` (with ``set_aside`` on top), the mean widest interval at that size (``expected_width``) and
    the assumption planned under; ``usable`` is the largest size tried when none reaches the width.
    """
    from audit.stats.correction import check_conditioning, corrected_intervals

    if not 0 < width <= 1:
        raise ValueError(f"width must be in (0, 1], got {width}")
    if not 0 <= set_aside < 1:
        raise ValueError(f"set_aside must be in [0, 1), got {set_aside}")
    shares = np.asarray(decided_shares, float)
    k = len(shares)
    if k < 2 or shares.sum() <= 0:
        raise ValueError("the classifier decides fewer than two labels on this run: nothing to correct")
    shares = shares / shares.sum()
    if not 1 / k < accuracy <= 1:
        raise ValueError(f"accuracy must be above chance (1/{k}) and at most 1, got {accuracy}")
    rng = np.random.default_rng(seed)
    decide = np.full((k, k), (1 - accuracy) / (k - 1))
    np.fill_diagonal(decide, accuracy)
    # The true shares are taken to be the decided ones (what the run suggests before anyone looks); the true
    # labels behind each decided label follow from them and the assumed accuracy.
    true = shares
    posterior = (true[:, None] * decide) / (true @ decide)[None, :]  # [true, decided]
    columns = np.append(shares * (1 - abstention), abstention)
    observed_n = np.maximum(1, np.round(images * shares * (1 - abstention))).astype(np.int64)
    best = None
    for n in PLAN_SIZES:
        sizes = {j: max(1, int(round(images * c))) for j, c in enumerate(columns) if c > 0}
        allocated = proportional_allocation(sizes, n)
        per_column = np.array([allocated.get(j, 0) for j in range(k + 1)])
        draws = np.zeros((runs, k, k + 1), dtype=np.int64)
        for j in range(k):
            draws[:, :, j] = rng.multinomial(per_column[j], posterior[:, j], size=runs)
        # Abstained images: their true labels in proportion to the true shares (abstention even across labels).
        draws[:, :, k] = rng.multinomial(per_column[k], true, size=runs)
        widths = np.ones(runs)
        usable = []
        for r in range(runs):
            try:
                check_conditioning(draws[r, :, :k])
                usable.append(r)
            except ValueError:
                pass
        if usable:
            _, low, high = corrected_intervals(
                np.broadcast_to(observed_n, (len(usable), k)),
                draws[usable, :, :k],
                abstained=draws[usable, :, k],
                samples=200,
                confidence=confidence,
                rng=rng,
            )
            widths[usable] = (high - low).max(axis=-1)
        best = (n, float(widths.mean()))
        if widths.mean() <= width:
            break
    usable_n, expected = best
    return {
        "usable": usable_n,
        "size": int(math.ceil(usable_n / (1 - set_aside))),
        "expected_width": expected,
        "reached": expected <= width,
        "assumption": {"accuracy": accuracy, "abstention": abstention, "decided_shares": shares.tolist()},
    }


def proportional_allocation(sizes: Mapping[Hashable, int], n: int) -> dict[Hashable, int]:
    """How many images each stratum gives to a sample of ``n``: in proportion to its size, largest remainders
    first, at least one for every non-empty stratum while ``n`` allows, never more than the stratum has."""
    strata = [k for k, v in sizes.items() if v > 0]
    total = sum(sizes[k] for k in strata)
    n = min(n, total)
    if n <= 0:
        return {k: 0 for k in sizes}
    quota = {k: n * sizes[k] / total for k in strata}
    take = {k: min(sizes[k], int(math.floor(quota[k]))) for k in strata}
    if n >= len(strata):
        for k in strata:
            take[k] = max(take[k], 1)
    # Hand out (or take back) single images by largest remainder until the sample has n.
    order = sorted(strata, key=lambda k: (-(quota[k] - math.floor(quota[k])), str(k)))
    while sum(take.values()) < n:
        for k in order:
            if sum(take.values()) >= n:
                break
            if take[k] < sizes[k]:
                take[k] += 1
    while sum(take.values()) > n:
        for k in sorted(strata, key=lambda k: (take[k] - quota[k], str(k)), reverse=True):
            if sum(take.values()) <= n:
                break
            if take[k] > 1:
                take[k] -= 1
    return {k: take.get(k, 0) for k in sizes}


def stratified_sample(strata: Mapping[Hashable, list], n: int, *, seed: int = 0) -> list:
    """``n`` members drawn without replacement, allocated in proportion over ``strata`` (each a list), in a
    seeded random order that interleaves the strata."""
    rng = np.random.default_rng(seed)
    counts = proportional_allocation({k: len(v) for k, v in strata.items()}, n)
    chosen = []
    for key in sorted(strata, key=str):
        members = list(strata[key])
        picks = rng.choice(len(members), size=counts[key], replace=False) if counts[key] else []
        chosen.extend(members[i] for i in sorted(picks))
    order = rng.permutation(len(chosen))
    return [chosen[i] for i in order]
