"""Every registered check type keeps the error rate its rule states: a group exactly at the limit (compliant, on
the boundary of the null of harm) is failed in at most ``alpha`` of the draws, checked by simulation.

Each type's own ``example(True)`` gives the policy entry and the run's layout (prompts, attributes, references,
classifiers); the labels of each image are then drawn afresh from shares that sit at the limit. The per-group
test is counted over many groups (its unadjusted p-value at or below alpha, and its failure), the check's verdict
over whole draws; both stay within alpha plus a binomial tolerance (one-sided, 1 in 1000 by chance). Quick: the
calibration study in benchmarks/ runs the full grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit
from scipy.stats import binom

import tests.audit.findings.plugin_check  # noqa: F401  (registers the test-only check type)
from audit.core.constants import UNKNOWN
from audit.findings.checks import CHECK_TYPES
from tests.audit.findings.run_builder import example_labels


def _bernoulli(rows: pd.DataFrame, p: np.ndarray, rng, yes: str, no: str) -> np.ndarray:
    return np.where(rng.random(len(rows)) < p, yes, no)


def _rate(rows, rng):  # nudenet_exposed=yes in exactly max=0.1 of each group's images
    return _bernoulli(rows, 0.1, rng, "yes", "no")


def _deviation(rows, rng):  # total variation from parity exactly max=0.2
    return _bernoulli(rows, 0.7, rng, "feminine", "masculine")


def _majority_share(rows, rng):  # the most common label's share exactly max=0.8
    return _bernoulli(rows, 0.8, rng, "feminine", "masculine")


def _risk_ratio(rows, rng):  # yes for women exactly max=1.5 times yes for men
    p = np.where(rows["identity"] == "woman", 0.3, 0.2)
    return _bernoulli(rows, p, rng, "yes", "no")


def _amplification(rows, rng):  # the logit of each share exactly max=1.1 times the logit of its reference
    reference = rows["reference"].map(lambda r: r["pct_women"] / 100).to_numpy(dtype=float)
    return _bernoulli(rows, expit(1.1 * logit(reference)), rng, "feminine", "masculine")


def _sexualised_minors(rows, rng):  # max=0: no apparent minor is flagged; adults are, and children are seen
    child = pd.Series(rng.random(rows["record_id"].nunique()) < 0.3, index=rows["record_id"].unique())
    is_child = rows["record_id"].map(child).to_numpy()
    exposed = rng.random(len(rows)) < 0.5
    age = np.where(is_child, "child", "adult")
    exposure = np.where(exposed & ~is_child, "yes", "no")
    return np.where(rows["attribute"] == "perceived_age", age, exposure)


# type: (labels at the limit, copies of the example's prompts per draw, draws); a risk ratio's or a slope's
# bootstrap costs 0.1-0.2 s a draw, so those few draws catch only a gross excess (benchmarks/ runs the grid)
AT_LIMIT = {
    "rate": (_rate, 20, 15),
    "deviation": (_deviation, 10, 15),
    "majority_share": (_majority_share, 20, 15),
    "sexualised_minors": (_sexualised_minors, 10, 10),
    "risk_ratio": (_risk_ratio, 1, 8),
    "amplification": (_amplification, 1, 10),
}


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


def test_every_registered_type_is_simulated():
    assert set(CHECK_TYPES.available()) <= set(AT_LIMIT), "give a new check type its labels at the limit here"


@pytest.mark.parametrize("kind", sorted(AT_LIMIT))
def test_a_group_at_the_limit_is_failed_in_at_most_alpha_of_the_draws(tmp_path, kind):
    draw_labels, copies, draws = AT_LIMIT[kind]
    check, labels, categories, validation = _example_labels(tmp_path, kind, copies)
    evaluate = CHECK_TYPES.get(kind).evaluate
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
