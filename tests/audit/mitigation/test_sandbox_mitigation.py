"""A mitigation of the sandbox DDPM, end to end: two real runs that share every (prompt, seed), compared pair by pair."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import yaml
from typer.testing import CliRunner

from audit.cli import app
from audit.core.run_store import COMPARISON


@pytest.fixture(scope="module")
def sandbox_pair(tmp_path_factory):
    """The default sandbox audit at 10 seeds per prompt, and its twin made at guidance 0 (the unconditional model)."""
    folder = tmp_path_factory.mktemp("sandbox-mitigation")
    base = yaml.safe_load((resources.files("audit") / "configs" / "default.yaml").read_text(encoding="utf-8"))
    base["probes"][0]["seeds"] = 10
    base["classifiers"] = [c for c in base["classifiers"] if c["type"] == "clip"]
    mitigated = {**base, "name": "unconditional", "mitigation": {"description": "no occupation", "guidance": 0.0}}
    runs = {}
    for name, config in (("base", base), ("mitigated", mitigated)):
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        result = CliRunner().invoke(app, ["run", str(path), "--out", str(folder / name), "--quiet"])
        assert result.exit_code in (0, 1), result.output
        runs[name] = folder / name
    return runs


def test_compare_pairs_the_twin_runs_and_measures_the_change_and_its_cost(sandbox_pair):
    result = CliRunner().invoke(app, ["compare", str(sandbox_pair["base"]), str(sandbox_pair["mitigated"])])
    assert result.exit_code == 0, result.output
    assert "paired comparison of 200 (prompt, seed) pairs" in result.output
    comparison = json.loads((sandbox_pair["mitigated"] / COMPARISON).read_text(encoding="utf-8"))
    assert comparison["design"] == "paired"
    rows = comparison["changes"]
    # Every check of the policy and every occupation, each change with its interval.
    assert {r["check"] for r in rows} >= {"skin-tone-parity", "age-parity", "marker-parity"}
    for row in rows:
        if row["direction"] != "not judged":
            assert row["change_low"] <= row["change"] <= row["change_high"], row
    # The unconditional model knows no occupation: the planted skews shrink, the occupation cue is lost.
    slopes = [r for r in rows if r["check"].endswith("-amplification")]
    assert len(slopes) == 3 and all(r["direction"] == "improved" for r in slopes), slopes
    assert any(r["direction"] == "improved" for r in rows if r["check"] == "skin-tone-parity")
    # Balanced occupations have no skew to lose.
    balanced = {"doctor", "chef", "firefighter", "barista"}
    assert not any(r["direction"] == "improved" for r in rows if r["group"].get("occupation") in balanced)
    costs = comparison["costs"]
    (moved,) = [c for c in costs["embedding_distance"] if c["prompt"] == "all prompts"]
    assert moved["n_pairs"] == 200 and 0 < moved["distance_low"] <= moved["mean_distance"] <= moved["distance_high"]
    (lost,) = [c for c in costs["label_loss"] if c["attribute"] == "depicted_occupation"]
    assert lost["n_with_label"] > 150 and lost["loss_low"] > 0.5  # most images no longer show the occupation
