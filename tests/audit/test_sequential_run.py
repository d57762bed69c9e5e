"""Sequential audits end to end on the sandbox renderer: rounds of seeds, groups that stop when settled, a run that is
a prefix of the fixed one, resume after kill -9 to the same decisions, and what the report and summary show."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.config import config_from_dict, load_config
from audit.core.errors import ConfigError
from tests.audit.sequential_runs import OCCUPATIONS, ROUND, SEEDS, decisions, made, write_config


def _run(config, out, *extra):
    """`diffaudit run` in this process (the installed command only where a process must be killed: it imports
    torch and the rest afresh, about 10 s a run)."""
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "-q", *extra])
    # 0 or 1 (a failed check) by exiting, as the installed command does; an exception raised is a crash.
    assert isinstance(result.exception, (SystemExit, type(None))), result.output[-2000:]
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same audit run with the sequential design and with the fixed one."""
    folder = tmp_path_factory.mktemp("sequential")
    sequential = write_config(folder)
    fixed = write_config(folder, mode="fixed", name="fixed")
    for config, out in ((sequential, folder / "sequential"), (fixed, folder / "fixed")):
        result = _run(config, out)
        assert result.exit_code in (0, 1), result.output[-2000:]
    return {"config": sequential, "sequential": folder / "sequential", "fixed": folder / "fixed"}


@pytest.mark.slow
def test_a_sequential_run_is_a_prefix_of_the_fixed_run_and_makes_fewer_images(runs):
    seq, fixed = made(runs["sequential"]), made(runs["fixed"])
    assert len(fixed) == len(OCCUPATIONS) * SEEDS
    assert len(seq) < 0.75 * len(fixed), f"the sequential run made {len(seq)} of {len(fixed)} images"
    for key, sha in seq.items():
        assert fixed[key] == sha, f"{key}: the same prompt and seed made a different image"
    seeds_by_prompt: dict[str, list[int]] = {}
    for item, seed in seq:
        seeds_by_prompt.setdefault(item, []).append(seed)
    for item, seeds in seeds_by_prompt.items():
        count = len(seeds)
        assert sorted(seeds) == list(range(count)), f"{item}: seeds are not 0, 1, 2, ..."
        assert count % ROUND == 0 or count == SEEDS, f"{item}: {count} seeds is not a whole number of rounds"


@pytest.mark.slow
def test_the_sequential_run_fails_the_planted_skews_as_the_fixed_run_does(runs):
    seq, fixed = decisions(runs["sequential"]), decisions(runs["fixed"])
    gating = [k for k in fixed if k[0].endswith("-parity")]
    planted = {"nurse": {"marker"}, "judge": {"skin-tone", "age"}}  # the parity checks the planted bias breaks
    for key in gating:
        occupation = json.loads(key[1])["occupation"]
        expected = "fail" if key[0].removesuffix("-parity") in planted.get(occupation, set()) else "pass"
        assert fixed[key][0] == expected, f"fixed {key}: {fixed[key]}"
        assert seq[key][0] == expected, f"sequential {key}: {seq[key]}"


@pytest.mark.slow
def test_groups_say_how_many_images_they_used_and_why_they_stopped(runs):
    findings = json.loads((runs["sequential"] / "findings.json").read_text())
    assert findings["design"]["mode"] == "sequential" and findings["design"]["round"] == ROUND
    assert findings["design"]["images"] == len(made(runs["sequential"]))
    assert findings["design"]["images_fixed"] == len(OCCUPATIONS) * SEEDS
    stops = findings["design"]["stops"]
    assert stops.get("beyond", 0) >= 3 and stops.get("within", 0) >= 1, stops
    parity = [f for f in findings["findings"] if f["check"].endswith("-parity")]
    assert all("stopped (" in f["summary"] and "confidence sequence" in f["summary"] for f in parity)
    summary = json.loads((runs["sequential"] / "summary.json").read_text())
    assert summary["design"]["mode"] == "sequential"
    groups = summary["sequential"]["groups"]
    assert {g["stop"] for g in groups} >= {"beyond", "within"}
    assert all(g["images"] > 0 for g in groups)
    html = (runs["sequential"] / "report.html").read_text()
    assert (
        "Sequential sampling" in html
        and "fig-sequential-0" in html
        and "within the limit at 80% confidence (futility stop)" in html
    )
    fixed_summary = json.loads((runs["fixed"] / "summary.json").read_text())
    assert fixed_summary["design"]["mode"] == "fixed" and fixed_summary["sequential"] is None
    assert "Sequential sampling" not in (runs["fixed"] / "report.html").read_text()


@pytest.mark.slow
def test_a_run_killed_mid_round_resumes_to_the_images_and_decisions_of_an_uninterrupted_run(runs, tmp_path):
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "audit", "run", str(runs["config"]), "--out", str(out), "-q"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    progress = out / "sequential.json"
    deadline = time.monotonic() + 300
    # Kill it after the first round is decided, while the second is being made.
    while time.monotonic() < deadline and process.poll() is None:
        if progress.exists() and json.loads(progress.read_text() or "{}").get("rounds_done", 0) >= 1:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "findings.json").exists()
    result = _run(runs["config"], out, "--resume")
    assert result.exit_code in (0, 1), result.output[-2000:]
    assert made(out) == made(runs["sequential"])
    assert decisions(out) == decisions(runs["sequential"])


def test_a_bad_sampling_block_is_an_error_naming_the_key_and_value(tmp_path):
    base = load_config().as_dict()
    for sampling, words in (
        ({"mode": "adaptive"}, ["sampling.mode", "adaptive"]),
        ({"mode": "sequential", "round": 0}, ["sampling", "round"]),
        ({"mode": "sequential", "rounds": 4}, ["sampling", "rounds"]),
        ({"mode": "sequential", "futility": 1.5}, ["sampling", "futility", "1.5"]),
    ):
        with pytest.raises(ConfigError) as info:
            config_from_dict({**base, "sampling": sampling}, source="my.yaml")
        assert "my.yaml" in str(info.value) and all(w in str(info.value) for w in words), str(info.value)


def test_the_fixed_design_writes_no_sampling_block_so_earlier_runs_resume():
    assert "sampling" not in load_config().as_dict()
    sequential = load_config("sandbox-sequential")
    assert sequential.sampling.sequential and sequential.as_dict()["sampling"]["round"] == 16


def test_plan_gives_the_expected_images_of_the_sequential_design_beside_the_fixed_one():
    result = CliRunner().invoke(app, ["plan", "sandbox", "--limit", "0.2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("sequential design"))
    row = next(line for line in lines[start:] if line.startswith("sandbox")).split()
    fixed, budget, at_parity, at_half, at_limit = (int(v) for v in row[1:6])
    assert budget == 2 * fixed
    assert at_parity < at_half < at_limit <= budget  # a prompt at parity settles soonest, one at the limit latest
