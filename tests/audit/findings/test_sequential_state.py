"""The sequential stop rule on label tables built for the purpose: which prompts keep sampling, and no verdict by
default (a group still sampling, every image abstained, too few judged images)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from audit.findings.policy import policy_from_dict
from audit.findings.sequential import SamplingDesign, sequential_state

DESIGN = SamplingDesign(mode="sequential", round=8)
CHECKS = policy_from_dict(
    {
        "name": "t",
        "checks": [
            {"id": "parity", "check": "deviation", "attribute": "gender", "by": ["prompt"], "max": 0.2},
            {
                "id": "parity-warning",
                "check": "deviation",
                "attribute": "gender",
                "by": ["prompt"],
                "max": 0.2,
                "severity": "warning",
                "min_judged": 30,
            },
        ],
    },
    source="test",
).checks


def _labels(prompts: dict[str, list[str]]) -> pd.DataFrame:
    """One row per image: prompt p's i-th label at seed i."""
    rows = []
    for prompt, labels in prompts.items():
        for seed, label in enumerate(labels):
            rows.append(
                {
                    "record_id": f"{prompt}-{seed}",
                    "item_id": prompt,
                    "seed": seed,
                    "classifier": "clf",
                    "attribute": "gender",
                    "label": label,
                    "prompt": prompt,
                }
            )
    return pd.DataFrame(rows)


def _state(prompts, rounds_done, budget=64):
    labels = _labels(prompts)
    seeds = {p: list(range(budget)) for p in prompts}
    categories = {("clf", "gender"): ["man", "unknown", "woman"]}
    return sequential_state(CHECKS, labels, categories, seeds, DESIGN, rounds_done=rounds_done, traces=True)


def test_a_skewed_prompt_stops_and_one_whose_images_all_abstain_keeps_sampling_and_is_never_passed():
    skewed = ["man"] * 64
    abstaining = ["unknown"] * 64
    state = _state({"skewed": skewed, "abstaining": abstaining}, rounds_done=4)
    assert state.running_items == {"abstaining"}
    table = state.results["parity"].table.set_index("prompt")
    assert table.loc["skewed", "stop"] == "beyond" and table.loc["skewed", "status"] == "fail"
    assert table.loc["abstaining", "status"] == "not_judged"
    final = _state({"skewed": skewed, "abstaining": abstaining}, rounds_done=8)
    table = final.results["parity"].table.set_index("prompt")
    assert final.running_items == set()
    assert table.loc["abstaining", "status"] == "not_judged"  # at the budget with nothing judged: no verdict


def test_a_group_still_sampling_in_an_unfinished_run_is_not_judged():
    rng = np.random.default_rng(0)
    near = list(np.where(rng.random(64) < 0.7, "man", "woman"))  # at the limit: settles neither way soon
    state = _state({"near": near}, rounds_done=2)
    finding = state.results["parity"].findings[0]
    assert state.running_items == {"near"}
    assert finding.status == "not_judged" and "still sampling" in finding.summary


def test_a_non_gating_check_judges_no_group_with_fewer_judged_images_than_min_judged():
    # The prompt made three rounds: the gating check stopped it there, so its data end at 24 images.
    state = _state({"skewed": ["man"] * 24}, rounds_done=8)
    warning = state.results["parity-warning"].table.iloc[0]
    gating = state.results["parity"].table.iloc[0]
    assert gating["stop"] == "beyond" and gating["images_used"] == 24
    assert warning["status"] == "not_judged" and "min_judged=30" in warning["reason"]


def test_the_confidence_sequence_of_each_round_narrows_and_holds_the_estimate():
    rng = np.random.default_rng(1)
    labels = list(np.where(rng.random(64) < 0.5, "man", "woman"))
    traces = _state({"even": labels}, rounds_done=8).traces
    rows = traces[traces["check"] == "parity"].sort_values("round")
    assert (np.diff(rows["cs_high"]) <= 1e-12).all() and (np.diff(rows["cs_low"]) >= -1e-12).all()
    assert ((rows["cs_low"] <= rows["estimate"] + 0.01) & (rows["estimate"] <= rows["cs_high"] + 0.01)).all()


def test_a_balanced_prompt_stops_within_as_a_futility_stop_and_the_table_says_so():
    balanced = ["man", "woman"] * 32
    skewed = ["man"] * 64
    design = SamplingDesign(mode="sequential", round=8, futility=0.2)
    labels = _labels({"balanced": balanced, "skewed": skewed})
    seeds = {p: list(range(64)) for p in ("balanced", "skewed")}
    categories = {("clf", "gender"): ["man", "unknown", "woman"]}
    state = sequential_state(CHECKS, labels, categories, seeds, design, rounds_done=8)
    table = state.results["parity"].table.set_index("prompt")
    assert table.loc["balanced", "stop"] == "within" and table.loc["balanced", "images_used"] < 64
    assert table.loc["balanced", "stopped"] == "within the limit at 80% confidence (futility stop)"
    assert table.loc["balanced", "status"] == "pass"
    assert table.loc["skewed", "stopped"] == "shown beyond the limit" and table.loc["skewed", "status"] == "fail"
    assert "futility stop" in state.results["parity"].summary["rule"]


def test_a_stricter_futility_needs_at_least_as_many_images_to_stop_a_balanced_prompt():
    balanced = ["man", "woman"] * 32
    used = {}
    for futility in (0.05, 0.2, 0.5):
        design = SamplingDesign(mode="sequential", round=8, futility=futility)
        labels = _labels({"balanced": balanced})
        categories = {("clf", "gender"): ["man", "unknown", "woman"]}
        state = sequential_state(CHECKS, labels, categories, {"balanced": list(range(64))}, design, rounds_done=8)
        used[futility] = int(state.results["parity"].table["images_used"].iloc[0])
    assert used[0.5] <= used[0.2] <= used[0.05]
    assert used[0.5] < used[0.05]


def test_a_futility_outside_zero_and_one_is_refused():
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match="futility"):
            SamplingDesign(mode="sequential", futility=bad)


def _two_prompt_group(seed: int = 0, seeds: int = 400) -> pd.DataFrame:
    """The issue's severe case: prompt a is 95% 'man' and never abstains; prompt b abstains 60% of the time and is
    otherwise 5% 'man'. One group (occupation 'x')."""
    rng = np.random.default_rng(seed)
    rows = []
    for prompt, man, abstain in (("a", 0.95, 0.0), ("b", 0.05, 0.6)):
        for s in range(seeds):
            label = "unknown" if rng.random() < abstain else ("man" if rng.random() < man else "woman")
            rows.append(
                {
                    "record_id": f"{prompt}-{s}",
                    "item_id": prompt,
                    "seed": s,
                    "classifier": "clf",
                    "attribute": "gender",
                    "label": label,
                    "prompt": prompt,
                    "occupation": "x",
                }
            )
    return pd.DataFrame(rows)


def test_a_group_whose_prompts_abstain_unevenly_is_judged_on_its_prompts_weighted_equally_in_both_designs():
    from audit.findings.evaluate import evaluate_check

    check = policy_from_dict(
        {
            "name": "t",
            "checks": [{"id": "p", "check": "deviation", "attribute": "gender", "by": ["occupation"], "max": 0.2}],
        },
        source="test",
    ).checks[0]
    labels = _two_prompt_group()
    categories = {("clf", "gender"): ["man", "unknown", "woman"]}
    fixed = evaluate_check(check, labels, categories).findings[0]
    state = sequential_state([check], labels, categories, {p: list(range(400)) for p in "ab"}, DESIGN, rounds_done=50)
    sequential = state.results["p"].findings[0]
    for finding in (fixed, sequential):
        assert finding.status == "pass", finding.summary
        assert finding.value < 0.1  # equal weights: (0.95 + 0.05) / 2 = parity; pooling judged images gave 0.19
        assert finding.ci[0] <= finding.value <= finding.ci[1]
    assert "2 prompts weighted equally" in fixed.summary


def test_a_gating_check_without_a_sequential_test_holds_its_prompts_to_the_budget():
    # The skewed prompt settles in a round or two under the parity check alone; a gating check with no sequential
    # test (shares corrected for classifier error) on the same attribute keeps it sampling to the budget.
    labels = _labels({"skewed": ["man"] * 64, "balanced": ["man", "woman"] * 32})
    categories = {("clf", "gender"): ["man", "unknown", "woman"]}
    seeds = {p: list(range(64)) for p in ("skewed", "balanced")}
    corrected = policy_from_dict(
        {
            "name": "t",
            "checks": [
                {
                    "id": "corrected",
                    "check": "deviation",
                    "attribute": "gender",
                    "by": ["prompt"],
                    "max": 0.2,
                    "correct_for_classifier_error": True,
                }
            ],
        },
        source="test",
    ).checks
    alone = sequential_state(CHECKS[:1], labels, categories, seeds, DESIGN, rounds_done=4)
    assert "skewed" not in alone.running_items
    held = sequential_state([*CHECKS[:1], *corrected], labels, categories, seeds, DESIGN, rounds_done=4)
    assert held.running_items == {"skewed", "balanced"}
    warning = [dataclasses.replace(corrected[0], severity="warning")]
    loose = sequential_state([*CHECKS[:1], *warning], labels, categories, seeds, DESIGN, rounds_done=4)
    assert "skewed" not in loose.running_items  # a check that only warns holds nothing


def test_max_seeds_caps_each_prompts_budget_and_the_rounds():
    design = SamplingDesign(mode="sequential", round=16, max_seeds=40)
    assert design.budget(range(100)) == list(range(40))
    assert design.budget([7, 3]) == [7, 3]  # fewer seeds than the cap: all of them, in order
    assert design.rounds(len(design.budget(range(100)))) == 3
    assert SamplingDesign(mode="sequential", round=16).budget(range(100)) == list(range(100))
    with pytest.raises(ValueError, match="max_seeds"):
        SamplingDesign(mode="sequential", max_seeds=0)
    # A prompt at the limit (70% 'man') under a budget of 40 seeds: at the end of the third round it stops at its
    # budget, unsettled.
    labels = _labels({"balanced": (["man"] * 7 + ["woman"] * 3) * 10})
    seeds = {"balanced": design.budget(range(100))}
    state = sequential_state(
        CHECKS[:1], labels, {("clf", "gender"): ["man", "unknown", "woman"]}, seeds, design, rounds_done=3
    )
    assert state.running_items == set()
    assert state.results["parity"].table["images_used"].tolist() == [40]
    assert state.results["parity"].table["stop"].tolist() == ["budget"]


def _arms(rates: dict[str, float], seeds: int, *, paired: bool, seed: int = 0) -> pd.DataFrame:
    """Two prompts, identity woman and man, with NudeNet-like 'yes' rates; seed-paired (one pair_id) or not."""
    rng = np.random.default_rng(seed)
    rows = []
    for identity, rate in rates.items():
        for s in range(seeds):
            rows.append(
                {
                    "record_id": f"{identity}-{s}",
                    "item_id": identity,
                    "seed": s,
                    "classifier": "nudenet",
                    "attribute": "exposed",
                    "label": "yes" if rng.random() < rate else "no",
                    "prompt": identity,
                    "identity": identity,
                    "pair_id": "p1" if paired else None,
                }
            )
    return pd.DataFrame(rows)


RATIO = policy_from_dict(
    {
        "name": "t",
        "checks": [
            {
                "id": "ratio",
                "check": "risk_ratio",
                "attribute": "exposed",
                "label": "yes",
                "between": "identity",
                "numerator": "woman",
                "denominator": "man",
                "max": 1.5,
            }
        ],
    },
    source="test",
).checks


@pytest.mark.parametrize("paired", [True, False])
def test_a_risk_ratio_stops_early_beyond_the_limit_and_within_it(paired):
    seeds = {p: list(range(320)) for p in ("woman", "man")}
    categories = {("nudenet", "exposed"): ["no", "unknown", "yes"]}
    design = SamplingDesign(mode="sequential", round=16)
    skewed = sequential_state(
        RATIO, _arms({"woman": 0.5, "man": 0.1}, 320, paired=paired), categories, seeds, design, rounds_done=20
    )
    finding = skewed.results["ratio"].findings[0]
    row = skewed.results["ratio"].table.iloc[0]
    assert finding.status == "fail" and row["stop"] == "beyond" and row["images_used"] < 320, finding.summary
    assert finding.ci[0] <= finding.value <= finding.ci[1] and finding.ci[0] > 1.5
    even = sequential_state(
        RATIO, _arms({"woman": 0.3, "man": 0.3}, 320, paired=paired), categories, seeds, design, rounds_done=20
    )
    row = even.results["ratio"].table.iloc[0]
    assert row["status"] == "pass" and row["stop"] == "within" and row["images_used"] < 640
    # Still sampling after the first round: the group holds both prompts.
    early = sequential_state(
        RATIO, _arms({"woman": 0.3, "man": 0.3}, 320, paired=paired), categories, seeds, design, rounds_done=1
    )
    assert early.running_items == {"woman", "man"}


def test_a_rate_over_prompts_that_abstain_unevenly_weighs_each_prompt_equally():
    from audit.findings.evaluate import evaluate_check

    check = policy_from_dict(
        {
            "name": "t",
            "checks": [
                {"id": "r", "check": "rate", "attribute": "gender", "label": "man", "by": ["occupation"], "max": 0.9}
            ],
        },
        source="test",
    ).checks[0]
    finding = evaluate_check(check, _two_prompt_group(), {("clf", "gender"): ["man", "unknown", "woman"]}).findings[0]
    assert abs(finding.value - 0.5) < 0.05  # (0.95 + 0.05) / 2; pooling the judged images gives about 0.69
    assert "weighted equally" in finding.summary
