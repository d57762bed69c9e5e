"""Every registered check type keeps the error rate its rule states: a group exactly at the limit (compliant, on
the boundary of the null of harm) is failed in at most ``alpha`` of the draws, checked by simulation.

Each type's own ``example(True)`` gives the policy entry and the run's layout (prompts, attributes, references,
classifiers); the labels of each image are then drawn afresh by the type's own ``at_limit`` from shares that sit
at the limit, so a new type (tests/audit/findings/plugin_check.py) is simulated without an edit here. The per-group
test is counted over many groups (its unadjusted p-value at or below alpha, and its failure), the check's verdict
over whole draws; both stay within alpha plus a binomial tolerance (one-sided, 1 in 1000 by chance). Quick: the
calibration study in benchmarks/ runs the full grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import tests.audit.findings.plugin_check  # noqa: F401  (registers the test-only check type)
from audit.core.constants import UNKNOWN
from audit.findings.checks import CHECK_TYPES
from tests.audit.findings.run_builder import example_labels

# The simulation's size where a type states none (copies of its example's prompts, draws): a risk ratio's or a
# slope's bootstrap costs 0.1-0.2 s a draw, so those types draw few and catch only a gross excess (benchmarks/
# runs the grid).
SIMULATION = (10, 10)
TYPES = CHECK_TYPES.available()


def _upper(trials: int, alpha: float) -> int:
    """The most failures a level-alpha rule makes in ``trials`` draws but once in a thousand."""
    return int(binom.ppf(0.999, trials, alpha))


def _example_labels(tmp_path, kind: str, copies: int):
    check, labels, categories, validation = example_labels(tmp_path / kind, kind, beyond=True)
    # More groups of the same layout: each copy of a prompt is a prompt of its own, with images of its own.
    labels = pd.concat(
        [
            labels.assign(
                **{column: labels[column].astype(str) + f" {copy}" for column in ("record_id", "item_id", "prompt")}
            )
            for copy in range(copies)
        ],
        ignore_index=True,
    )
    return check, labels, categories, validation


@pytest.mark.parametrize("kind", TYPES)
def test_a_group_at_the_limit_is_failed_in_at_most_alpha_of_the_draws(tmp_path, kind):
    check_type = CHECK_TYPES.get(kind)
    draw_labels = check_type.at_limit  # each type says which labels sit exactly at its example's limit
    copies, draws = getattr(check_type, "simulation", SIMULATION)
    check, labels, categories, validation = _example_labels(tmp_path, kind, copies)
    evaluate = check_type.evaluate
    rng = np.random.default_rng(34)
    groups = significant = failed_groups = failed_checks = judged_checks = 0
    for draw in range(draws):
        drawn = labels.assign(label=draw_labels(labels, rng))
        result = evaluate(check, drawn, categories, seed=draw, validation=validation)
        judged = [f for f in result.findings if f.status != "not_judged" and f.p_value is not None]
        assert judged, [f.summary for f in result.findings]
        groups += len(judged)
        significant += sum(f.p_value <= check.alpha for f in judged)
        failed_groups += sum(f.status == "fail" for f in judged)
        judged_checks += 1
        failed_checks += result.status == "fail"
    assert (drawn["label"] != UNKNOWN).all()
    print(
        f"{kind}: {significant}/{groups} groups significant, {failed_groups} failed, {failed_checks}/{judged_checks} checks"
    )
    assert significant <= _upper(groups, check.alpha), f"{significant} of {groups} groups at the limit significant"
    assert failed_groups <= _upper(groups, check.alpha), f"{failed_groups} of {groups} groups at the limit failed"
    assert failed_checks <= _upper(judged_checks, check.alpha), f"{failed_checks} of {judged_checks} checks failed"
