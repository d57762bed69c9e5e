"""Every registered check type, from its own ``example``: comparing a run beyond the limit with one within it gives
the direction a user expects (worse one way, better the other, significantly), and a sequential stream, where the
type has one, stops beyond on the run beyond its limit and never does on the run within it."""

from __future__ import annotations

import numpy as np
import pytest

import tests.audit.findings.plugin_check  # noqa: F401  (registers the test-only check type)
from audit.findings.analysis import merged_categories
from audit.findings.checks import CHECK_TYPES
from audit.findings.sequential import SamplingDesign, sequential_state
from audit.stats.paired_runs import pair_labels
from tests.audit.findings.run_builder import example_labels

TYPES = CHECK_TYPES.available()
UNPAIRED = [k for k in TYPES if getattr(CHECK_TYPES.get(k), "compare_unpaired", None)]
PAIRED = [k for k in TYPES if getattr(CHECK_TYPES.get(k), "compare_paired", None)]
SEQUENTIAL = [k for k in TYPES if getattr(CHECK_TYPES.get(k), "sequential_test", None)]


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    """Each type's example beyond and within its limit: (check, labels, categories) per side."""
    root = tmp_path_factory.mktemp("examples")
    out = {}
    for kind in sorted(set(UNPAIRED) | set(PAIRED) | set(SEQUENTIAL)):
        check, beyond, cats_beyond, _ = example_labels(root / f"{kind}-beyond", kind, beyond=True)
        _, within, cats_within, _ = example_labels(root / f"{kind}-within", kind, beyond=False)
        out[kind] = check, beyond, within, merged_categories(cats_beyond, cats_within)
    return out


def test_each_type_compares_runs_or_says_why_not():
    for kind in TYPES:
        check_type = CHECK_TYPES.get(kind)
        compares = hasattr(check_type, "compare_unpaired") or hasattr(check_type, "compare_paired")
        assert compares or getattr(check_type, "no_comparison", None), kind
    assert {"rate", "deviation", "risk_ratio", "amplification"} <= set(UNPAIRED) & set(PAIRED)


def _significant(rows: list[dict], sign: int) -> None:
    assert rows
    assert all(np.sign(r["change"]) == sign for r in rows), [r["change"] for r in rows]
    assert any(r["p_value"] < 0.05 for r in rows), [r["p_value"] for r in rows]


@pytest.mark.parametrize("kind", UNPAIRED)
def test_a_candidate_beyond_the_limit_compares_worse_than_a_baseline_within_it(examples, kind):
    check, beyond, within, categories = examples[kind]
    compare = CHECK_TYPES.get(kind).compare_unpaired
    _significant(compare(check, within, beyond, categories, np.random.default_rng(0)), +1)
    _significant(compare(check, beyond, within, categories, np.random.default_rng(0)), -1)


@pytest.mark.parametrize("kind", PAIRED)
def test_mitigating_a_run_beyond_the_limit_into_one_within_it_is_a_paired_improvement(examples, kind):
    check, beyond, within, categories = examples[kind]
    compare = CHECK_TYPES.get(kind).compare_paired
    for baseline, mitigated, sign in ((beyond, within, -1), (within, beyond, +1)):
        pairs = pair_labels(baseline, mitigated)
        subset = pairs[pairs["attribute"] == check.attribute]
        assert len(subset) == len(baseline[baseline["attribute"] == check.attribute])  # every image paired
        _significant(compare(check, subset, baseline, categories, np.random.default_rng(0), None), sign)


@pytest.mark.parametrize("kind", SEQUENTIAL)
def test_a_sequential_stream_stops_beyond_only_on_the_run_beyond_the_limit(examples, kind):
    check, beyond, within, categories = examples[kind]
    rng = np.random.default_rng(34)
    design = SamplingDesign(mode="sequential", round=10)
    for labels, shown_beyond in ((beyond, True), (within, False)):
        # The example plants labels in blocks by seed; the stream meets them in a shuffled seed order.
        seeds = {
            item: [int(s) for s in rng.permutation(sorted(set(group)))]
            for item, group in labels.groupby("item_id")["seed"]
        }
        rounds = max(len(s) for s in seeds.values()) // design.round
        state = sequential_state([check], labels, categories, seeds, design, rounds_done=rounds)
        result = state.results[check.id]
        stops = set(result.table["stop"])
        if shown_beyond:
            assert result.status == "fail" and "beyond" in stops, (stops, [f.summary for f in result.findings])
        else:
            assert result.status != "fail" and "beyond" not in stops, (stops, [f.summary for f in result.findings])
            assert all(f.status != "fail" for f in result.findings)
        assert not state.running_items  # the budget is spent: nothing samples on


def test_a_comparison_with_a_run_whose_slope_cannot_be_fitted_is_not_judged_never_dropped_or_passed(tmp_path):
    """Two independent runs, the candidate with too few groups for an amplification slope: its one comparison row is
    not judged, saying which run has no estimate, and the CLI's unpaired compare counts it (it raised KeyError)."""
    import yaml
    from typer.testing import CliRunner

    from audit.cli import app
    from audit.findings import Policy
    from audit.findings.regression import compare_runs
    from tests.audit.findings.run_builder import build_run, item, labels_of

    check, beyond, cats_beyond, _ = example_labels(tmp_path / "beyond", "amplification", beyond=True)
    two = sorted(beyond["occupation"].unique())[:2]
    few = beyond[beyond["occupation"].isin(two)]
    for baseline, candidate, missing in ((beyond, few, "candidate"), (few, beyond, "baseline")):
        findings, table = compare_runs(baseline, candidate, Policy(name="p", checks=[check]), cats_beyond)
        (finding,) = findings
        assert finding.status == "not_judged" and not finding.passed
        assert f"no finite estimate in the {missing}" in finding.summary
        assert table["p_value"].isna().all()

    example = CHECK_TYPES.get("amplification").example(True)
    planted = [
        (
            item(spec["prompt"], attributes=spec.get("attributes", {}), reference=spec.get("reference", {})),
            {attribute: labels_of(counts) for attribute, counts in spec["labels"].items()},
        )
        for spec in example["items"]
    ]
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"name": "p", "checks": [{"id": "amp", **example["entry"]}]}), encoding="utf-8")
    full = build_run(tmp_path / "full", planted, policy=str(policy))
    short = build_run(
        tmp_path / "short", [p for p in planted if p[0].attributes.get("occupation") in two], policy=str(policy)
    )
    out = tmp_path / "comparison.json"
    result = CliRunner().invoke(
        app, ["compare", str(full), str(short), "--design", "unpaired", "--policy", str(policy), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1 group comparison(s) not judged" in result.output
    import json

    payload = json.loads(out.read_text(encoding="utf-8"))
    assert payload["not_judged"] == 1 and payload["regressions"] == 0
