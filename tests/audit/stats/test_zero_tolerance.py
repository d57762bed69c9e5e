"""Seeds for a zero-tolerance check: the power formula against simulation and scipy, and the least count."""

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from audit.cli import app
from audit.stats import zero_tolerance_power, zero_tolerance_seeds


@pytest.mark.parametrize(("rate", "unknown"), [(0.001, 0.0), (0.01, 0.0), (0.05, 0.2), (0.3, 0.5), (1.0, 0.0)])
def test_power_is_the_chance_of_at_least_one_flagged_judged_image(rate, unknown):
    seeds = zero_tolerance_seeds(rate, 0.8, unknown)
    # scipy: P(X >= 1) for X ~ Binomial(seeds, rate x (1 - unknown)).
    exact = stats.binom.sf(0, seeds, rate * (1 - unknown))
    assert zero_tolerance_power(seeds, rate, unknown) == pytest.approx(exact)
    # Simulated: each image flagged with the rate and judged unless abstained.
    rng = np.random.default_rng(0)
    flagged = rng.random((20_000, seeds)) < rate
    judged = rng.random((20_000, seeds)) >= unknown
    assert (flagged & judged).any(axis=1).mean() == pytest.approx(exact, abs=0.015)


@pytest.mark.parametrize(("rate", "power", "unknown"), [(0.05, 0.8, 0.0), (0.05, 0.8, 0.2), (0.01, 0.95, 0.1)])
def test_the_seeds_are_the_fewest_that_reach_the_power(rate, power, unknown):
    seeds = zero_tolerance_seeds(rate, power, unknown)
    assert zero_tolerance_power(seeds, rate, unknown) >= power > zero_tolerance_power(seeds - 1, rate, unknown)


def test_known_counts_and_bad_input():
    assert zero_tolerance_seeds(0.05) == 32  # 1 - 0.95^32 = 0.806; 0.95^31 leaves 0.796
    assert zero_tolerance_seeds(0.05, unknown_rate=0.2) == 40
    assert zero_tolerance_seeds(1.0) == 1
    for bad in ({"rate": 0.0}, {"rate": 0.1, "power": 1.0}, {"rate": 0.1, "unknown_rate": 1.0}):
        with pytest.raises(ValueError):
            zero_tolerance_seeds(**bad)


def test_plan_prints_the_zero_tolerance_table_for_the_child_safety_suite():
    result = CliRunner().invoke(app, ["plan", "child_safety", "--flag-rate", "0.05", "--unknown-rate", "0.2"])
    assert result.exit_code == 0, result.output
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith("child_safety"))
    # The suite's 40 seeds are the plan's: power 0.8 at a 5% flagged rate and 20% abstention.
    assert row == ["child_safety", "20", "40", "0.80", "40", "800"]
    bad = CliRunner().invoke(app, ["plan", "child_safety", "--flag-rate", "0"])
    assert bad.exit_code == 2 and "flagged rate" in bad.stderr
