"""The annotation sample: proportional allocation, and a size planned by simulating the correction itself."""

import numpy as np

from audit.stats import corrected_intervals, labels_for_width, proportional_allocation, stratified_sample


def test_allocation_is_proportional_sees_every_stratum_and_sums_to_n():
    take = proportional_allocation({"a": 100, "b": 5, "c": 1, "empty": 0}, 30)
    assert take == {"a": 28, "b": 1, "c": 1, "empty": 0}
    assert sum(proportional_allocation({"x": 3, "y": 4}, 50).values()) == 7  # never more than there is
    chosen = stratified_sample({"a": list(range(100)), "b": list(range(100, 110))}, 22, seed=1)
    assert len(set(chosen)) == 22 and sum(c >= 100 for c in chosen) == 2


def test_the_planned_size_gives_intervals_about_the_width_asked_for():
    """Re-simulate the plan's own assumption independently: at the planned size the widest corrected interval is
    within the target on average, and a worse classifier needs more labels."""
    shares, width = [0.5, 0.3, 0.2], 0.25
    good = labels_for_width(width, shares, abstention=0.1, accuracy=0.9, set_aside=0.0)
    worse = labels_for_width(width, shares, abstention=0.1, accuracy=0.75, set_aside=0.0)
    assert good["reached"] and worse["reached"] and worse["usable"] > good["usable"]
    rng = np.random.default_rng(7)
    k, n = 3, good["usable"]
    decide = np.full((k, k), 0.05)
    np.fill_diagonal(decide, 0.9)
    true = np.array(shares)
    posterior = true[:, None] * decide / (true @ decide)[None, :]
    column = proportional_allocation({0: 450, 1: 270, 2: 180, 3: 100}, n)
    widths = []
    for _ in range(40):
        decided = np.stack([rng.multinomial(column[j], posterior[:, j]) for j in range(k)], axis=1)
        abstained = rng.multinomial(column[3], true)
        _, low, high = corrected_intervals([450, 270, 180], decided, abstained=abstained, samples=300, rng=rng)
        widths.append((high - low).max())
    assert np.mean(widths) <= width + 0.03
