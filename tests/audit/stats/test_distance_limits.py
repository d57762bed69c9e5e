"""Tests of a distance against its limit: exact where it can be, valid everywhere, intervals that cover at 0."""

import numpy as np
import pytest
from scipy import special, stats

import audit.stats.distance_limits as limits
from audit.stats import interval, lower_bound, p_beyond, p_within, upper_bound
from audit.stats.distance_limits import count_outcomes, distance, p_beyond_many, p_within_many

ALPHA = 0.05


def _exact_reject_rate(n, q, p, limit, test=p_beyond_many):
    outcomes = count_outcomes(n, len(q))[0]
    return float(stats.multinomial.pmf(outcomes, n, p)[test(outcomes, q, limit) <= ALPHA].sum())


def _exact_coverage(n, q, p):
    outcomes = count_outcomes(n, len(q))[0]
    weights = stats.multinomial.pmf(outcomes, n, p)
    truth = float(distance(p, q))
    hits = [lo - 1e-9 <= truth <= hi + 1e-9 for lo, hi in (interval(o, q) for o in outcomes)]
    return float(weights[np.array(hits)].sum())


def test_two_labels_is_the_largest_binomial_tail_over_the_null_interval():
    """The exact p-value equals a brute-force maximum over a fine grid of true shares within the limit (scipy)."""
    for n, q1, limit in [(10, 0.5, 0.2), (37, 0.3, 0.1), (12, 0.0, 0.2), (20, 0.9, 0.2)]:
        xs = np.arange(n + 1)
        grid = np.linspace(max(0, q1 - limit), min(1, q1 + limit), 101)
        for x in xs:
            far = np.abs(xs / n - q1) >= abs(x / n - q1) - 1e-9
            brute = max(stats.binom.pmf(xs, n, share)[far].sum() for share in grid)
            assert p_beyond([x, n - x], [q1, 1 - q1], limit) == pytest.approx(min(brute, 1.0), abs=1e-9)


def test_more_labels_take_the_worst_vertex_which_dominates_every_null_distribution():
    """The exact tail at the polytope's vertices is at least the tail at random boundary and interior points."""
    rng = np.random.default_rng(0)
    for q, n, limit in [([1 / 3] * 3, 9, 0.2), ([0.6, 0.3, 0.1], 8, 0.25), ([0.25] * 4, 6, 0.15)]:
        q = np.asarray(q)
        outcomes = count_outcomes(n, len(q))[0]
        tvs = distance(outcomes / n, q)
        ts = np.unique(np.round(tvs[tvs > limit], 9))
        ours = np.array([p_beyond(outcomes[np.argmin(np.abs(tvs - t))], q, limit) for t in ts])
        for _ in range(60):
            d = rng.normal(size=len(q))
            d -= d.mean()
            p = q + d * limit * rng.uniform(0.3, 1.0) / (0.5 * np.abs(d).sum())
            if (p < 0).any():
                continue
            pmf = stats.multinomial.pmf(outcomes, n, p)
            tails = np.array([pmf[tvs >= t - 1e-9].sum() for t in ts])
            assert (tails <= ours + 1e-9).all()


def test_the_union_bound_for_many_outcomes_is_never_below_the_exact_test(monkeypatch):
    rng = np.random.default_rng(1)
    q = np.array([0.4, 0.3, 0.2, 0.1])
    counts = rng.multinomial(20, [0.6, 0.2, 0.1, 0.1], size=30)
    exact = [p_beyond(c, q, 0.15) for c in counts]
    monkeypatch.setattr(limits, "EXACT_OUTCOMES", 1)
    union = [p_beyond(c, q, 0.15) for c in counts]
    assert all(u >= e - 1e-12 for u, e in zip(union, exact, strict=True))
    assert p_beyond_many(counts, q, 0.15) == pytest.approx(union)


@pytest.mark.parametrize("k", [2, 3, 4])
@pytest.mark.parametrize("n", [5, 10, 30])
def test_a_group_exactly_at_the_limit_fails_at_most_alpha_of_the_time(k, n):
    """Exact over every outcome: the worst compliant distribution (a vertex at the limit) and a spread one."""
    q = np.full(k, 1 / k)
    vertex = q.copy()
    vertex[0] += 0.2
    vertex[1] -= 0.2
    tilt = np.linspace(1, -1, k)
    spread = q + tilt * 0.2 / (0.5 * np.abs(tilt).sum())
    for p in (vertex, spread):
        assert distance(p, q) == pytest.approx(0.2)
        assert _exact_reject_rate(n, q, p, 0.2) <= ALPHA + 1e-12
        assert _exact_reject_rate(n, q, p, 0.2, p_within_many) <= ALPHA + 1e-12  # safety's error at the limit


def test_prompts_beyond_the_limit_are_caught_and_more_images_help():
    q = np.array([0.5, 0.5])
    far = np.array([0.8, 0.2])
    powers = [_exact_reject_rate(n, q, far, 0.2) for n in (10, 30, 100, 300)]
    assert powers == sorted(powers) and powers[-1] > 0.95
    # A compliant prompt half the limit from parity is never failed, however many images it has.
    assert _exact_reject_rate(300, q, np.array([0.6, 0.4]), 0.2) < 1e-6


@pytest.mark.parametrize(("k", "n"), [(3, 4), (3, 10), (4, 10), (2, 150)])
def test_the_interval_covers_a_distance_of_zero(k, n):
    """The bootstrap interval missed TV = 0 always with 3-4 labels; this one covers it (exactly computed)."""
    q = np.full(k, 1 / k)
    assert _exact_coverage(n, q, q) >= 0.95


def test_the_interval_covers_at_the_limit_and_beyond_in_simulated_audits():
    rng = np.random.default_rng(4)
    for k, n, tv in [(3, 100, 0.2), (4, 30, 0.2), (5, 30, 0.15)]:
        q = np.full(k, 1 / k)
        p = q.copy()
        p[0] += tv
        p[-1] -= tv
        truth = float(distance(p, q))
        draws = rng.multinomial(n, p, size=150)
        hits = np.mean([lo - 1e-9 <= truth <= hi + 1e-9 for lo, hi in (interval(c, q) for c in draws)])
        assert hits >= 0.93, (k, n, tv, hits)


def test_bounds_invert_the_tests():
    counts, q = [70, 20, 10], [1 / 3] * 3
    low, high = lower_bound(counts, q, 0.95), upper_bound(counts, q, 0.95)
    assert 0 < low < distance(np.array(counts) / 100, q) < high
    assert p_beyond(counts, q, low - 0.01) <= ALPHA < p_beyond(counts, q, low + 0.01)
    assert p_within(counts, q, high + 0.01) <= ALPHA < p_within(counts, q, high - 0.01)


def test_a_zero_reference_share_is_a_distance_not_an_impossibility():
    """A BLS row of 0%: one image of that label moves the distance by 1/n; nothing is 'impossible'."""
    q = [0.6, 0.4, 0.0]
    assert p_beyond([18, 11, 1], q, 0.2) > 0.5
    assert 0 <= lower_bound([18, 11, 1], q) <= 1 / 30 <= upper_bound([18, 11, 1], q)
    assert p_beyond([0, 0, 30], q, 0.2) < 1e-6  # every image of the label with no reference share is far


def test_max_gap_is_tested_label_by_label():
    counts, q = [70, 20, 10], [1 / 3] * 3
    assert p_beyond(counts, q, 0.2, "max_gap") <= ALPHA < p_beyond(counts, q, 0.35, "max_gap")
    low, high = interval(counts, q, 0.95, "max_gap")
    assert low <= 0.7 - 1 / 3 <= high


# --- p_within: exact where outcomes can be enumerated -------------------------------------------------


def _pmf(outcomes, n, shares) -> np.ndarray:
    """Multinomial P(each outcome) under each row of shares: (shares, outcomes); computed as scipy's
    multinomial.pmf is (checked below), in one array operation."""
    outcomes = np.asarray(outcomes, float)
    shares = np.atleast_2d(np.asarray(shares, float))
    coef = special.gammaln(n + 1) - special.gammaln(outcomes + 1).sum(axis=1)
    return np.exp(coef[None, :] + special.xlogy(outcomes[None, :, :], shares[:, None, :]).sum(axis=2))


def _largest(chance, lo, hi, points=2001) -> float:
    """Brute force: the largest of chance(p) over a grid of [lo, hi] and, where that lies inside, Brent's method
    between the best point's neighbours."""
    from scipy import optimize

    grid = np.linspace(lo, hi, points)
    values = chance(grid)
    at = int(np.argmax(values))
    if at in (0, points - 1):
        return float(values[at])
    refined = optimize.minimize_scalar(
        lambda v: -float(chance(np.array([v]))[0]),
        bounds=(grid[at - 1], grid[at + 1]),
        method="bounded",
        options={"xatol": 1e-12},
    )
    return max(float(values[at]), -float(refined.fun))


@pytest.mark.parametrize("q1", [0.5, 0.3, 0.1, 0.0, 0.85])
def test_two_label_p_within_is_the_largest_chance_over_every_share_at_least_the_limit_away(q1):
    """Brute force for every n <= 20, every outcome and limits 0.1-0.3: the chance of a distance at most t,
    maximised over each null piece ([0, q1 - limit], [q1 + limit, 1]), equals p_within to 1e-9."""
    for limit in (0.1, 0.2, 0.3):
        pieces = [(lo, hi) for lo, hi in ((0.0, q1 - limit), (q1 + limit, 1.0)) if hi >= lo - 1e-12]
        for n in range(1, 21):
            xs = np.arange(n + 1)
            distances = np.abs(xs / n - q1)
            for x in xs:
                near = xs[distances <= distances[x] + 1e-9]
                near = np.column_stack([near, n - near])

                def chance(shares, near=near, n=n):
                    shares = np.clip(shares, 0, 1)
                    return _pmf(near, n, np.column_stack([shares, 1 - shares])).sum(axis=1)

                best = max(_largest(chance, lo, max(lo, hi), points=401) for lo, hi in pieces)
                assert p_within([x, n - x], [q1, 1 - q1], limit) == pytest.approx(best, abs=1e-9), (limit, n, x)


def _three_label_null_grid(q, limit, steps=120):
    grid = np.array([(i, j, steps - i - j) for i in range(steps + 1) for j in range(steps + 1 - i)]) / steps
    return grid[distance(grid, q) >= limit - 1e-12]


@pytest.mark.parametrize(
    ("q", "limit"),
    [([1 / 3] * 3, 0.2), ([1 / 3] * 3, 0.3), ([0.6, 0.3, 0.1], 0.2), ([0.6, 0.4, 0.0], 0.25), ([0.2, 0.3, 0.5], 0.1)],
)
def test_three_label_p_within_equals_brute_force_enumeration(q, limit):
    """Every outcome closer than the limit, n = 5, 12, 20: p_within equals the largest chance of a distance at
    most t found by brute force along the boundary of the null region {TV >= limit} (to 1e-9), and no null
    distribution on a grid of the whole region does better."""
    q = np.asarray(q)
    null = _three_label_null_grid(q, limit)
    for n in (5, 12, 20):
        outcomes = count_outcomes(n, 3)[0]
        assert _pmf(outcomes, n, null[:3]) == pytest.approx(
            np.array([stats.multinomial.pmf(outcomes, n, p) for p in null[:3]])
        )
        tvs = distance(outcomes / n, q)
        on_grid = _pmf(outcomes, n, null)
        ours_many = p_within_many(outcomes, q, limit)
        for t in np.unique(np.round(tvs[tvs < limit - 1e-9], 9)):
            near = tvs <= t + 1e-9
            grid_best = float(on_grid[:, near].sum(axis=1).max())
            # The boundary: one label exactly the limit above or below its reference, the others splitting the rest.
            best = 0.0
            for i in range(3):
                j, k = (m for m in range(3) if m != i)
                for share in (q[i] + limit, q[i] - limit):
                    if not 0 <= share <= 1:
                        continue

                    def chance(s, i=i, j=j, k=k, share=share, near=near, n=n, outcomes=outcomes):
                        p = np.empty((len(s), 3))
                        p[:, i], p[:, j], p[:, k] = share, (1 - share) * s, (1 - share) * (1 - s)
                        return _pmf(outcomes[near], n, np.clip(p, 0, 1)).sum(axis=1)

                    best = max(best, _largest(chance, 0.0, 1.0))
            at = np.abs(tvs - t) < 1e-9
            ours = p_within(outcomes[np.flatnonzero(at)[0]], q, limit)
            assert ours == pytest.approx(best, abs=1e-9), (n, t)
            assert ours_many[at] == pytest.approx(ours, abs=1e-12)
            assert grid_best <= ours + 1e-12


def test_the_worst_case_for_safety_is_not_a_vertex_of_the_limit():
    """Unlike p_beyond's, p_within's worst case keeps the other labels' proportions: at q = (1/3, 1/3, 1/3),
    limit 0.3, n = 20 and an outcome 0.267 away, the vertices of {TV <= 0.3} give a chance of 0.09 and
    (0.633, 0.183, 0.183) gives 0.44; maximising over vertices would certify far too often."""
    q = np.full(3, 1 / 3)
    outcomes = count_outcomes(20, 3)[0]
    tvs = distance(outcomes / 20, q)
    row = int(np.flatnonzero(np.abs(tvs - 0.26666667) < 1e-6)[0])
    near = tvs <= tvs[row] + 1e-9
    spread = stats.multinomial.pmf(outcomes[near], 20, [0.3 + 1 / 3, 1 / 3 - 0.15, 1 / 3 - 0.15]).sum()
    vertex = stats.multinomial.pmf(outcomes[near], 20, [0.3 + 1 / 3, 1 / 3, 1 / 3 - 0.3]).sum()
    assert vertex < 0.1 and spread > 0.4
    assert p_within(outcomes[row], q, 0.3) >= spread - 1e-12


def test_exact_p_within_is_never_above_the_subset_bound_and_certifies_more():
    """The exact test is at most the old bound (union of one-sided subset tails) for every outcome closer than
    the limit, and rejects at 0.05 in cases the bound does not; the interval's upper end is never wider."""
    rejected_only_by_exact = 0
    for q in ([1 / 3] * 3, [0.5, 0.5], [0.6, 0.3, 0.1]):
        q = np.asarray(q)
        for n in (10, 20, 30):
            outcomes = count_outcomes(n, len(q))[0]
            t = distance(outcomes / n, q)
            near = t < 0.2 - 1e-9
            exact = p_within_many(outcomes, q, 0.2)[near]
            bound = limits.subset_p_within_many(n, q, t, 0.2, "tv")[near]
            assert (exact <= bound + 1e-12).all()
            rejected_only_by_exact += int(((exact <= ALPHA) & (bound > ALPHA)).sum())
            if len(q) == 2:
                x = outcomes[:, 0]
                _, upper = limits.binary_interval(x, n, q[0])
                assert (upper <= np.array([upper_bound(o, q, 0.975) for o in outcomes]) + 2e-3).all()
    assert rejected_only_by_exact > 0
