"""How many of a run's images a person should label, and which: a stratified sample sized for a target interval.

The sample is stratified by the classifier's label and by prompt with
proportional allocation: each stratum gets its share of the run's images
(largest remainders, at least one image for a stratum that has any while
the sample allows), so the labelled sample's confusion matrix estimates the
run's own without weights, and every label and prompt is seen.

Its size comes from the width of the 95% interval wanted on each corrected
share. With labels drawn in proportion to the classifier's labels, the
corrected share of a true label t is estimated by sum_i o_i q_it (o_i the
run's share of classifier label i, q_it the share of true t among sampled
images labelled i), of variance sum_i o_i q_it (1 - q_it) / n <= 1 / (4 n).
A width w at confidence z therefore needs n = (z / w)^2 images in the worst
case (q = 1/2); images a person sets aside (not a person, unsure) are added
on top by the expected rate. The matrix correction the audit runs solves
the same equations, so the same n holds for it to first order.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping

import numpy as np
from scipy import stats


def labels_for_width(width: float, *, confidence: float = 0.95, set_aside: float = 0.1) -> int:
    """Images to label for a corrected share's interval of at most ``width`` (worst case), with ``set_aside``
    of them expected to be unusable (not a person, unsure)."""
    if not 0 < width <= 1:
        raise ValueError(f"width must be in (0, 1], got {width}")
    if not 0 <= set_aside < 1:
        raise ValueError(f"set_aside must be in [0, 1), got {set_aside}")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    usable = math.ceil((z / width) ** 2)
    return math.ceil(usable / (1 - set_aside))


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
