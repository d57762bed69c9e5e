"""Runs killed with SIGKILL at random points resume to every (item, seed) and every (image, classifier) exactly once.

Real subprocesses of the CLI are killed at random moments — between and
during batch writes of images, score parts and their merge — several times in
a row, each time resumed from what the last one left.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app
from audit.core.run_store import PARTS, RunStore
from tests.conftest import cli_command

SEEDS = 8
TRIALS = 3


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _score_parts(run: Path) -> int:
    folder = run / PARTS / "scores"
    return len(list(folder.glob("*.parquet"))) if folder.is_dir() else 0


def _kill_at_random(command: list[str], progress, target: int, delay: float) -> int | None:
    """Start ``command``, SIGKILL it ``delay`` s after ``progress()`` reaches ``target``; returns progress at the kill.

    None if the process finished on its own first.
    """
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while progress() < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is not None:
        assert process.returncode == 0, process.stderr.read().decode()
        return None
    at_kill = progress()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return at_kill


@pytest.fixture(scope="module")
def killed_generation(tmp_path_factory, tiny_sd_path):
    """A run whose generation was killed TRIALS times at random points, then resumed to the end."""
    folder = tmp_path_factory.mktemp("killed")
    config = folder / "config.yaml"
    config.write_text(
        f'name: killed\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2, batch_size: 2}}\n'
        f"probes: [{{suite: demo, seeds: {SEEDS}}}]\nclassifiers: [{{type: skin_tone}}]\n"
    )
    out = folder / "run"
    log = out / "generations.jsonl"
    rng = random.Random(14)
    command = [*cli_command(), "generate", str(config), "--out", str(out), "--resume", "-q"]
    kills = []
    for _ in range(TRIALS):
        target = len(_lines(log)) + rng.randint(1, 4)
        kills.append(_kill_at_random(command, lambda: len(_lines(log)), target, rng.uniform(0, 0.3)))
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    return config, out, kills


def test_generation_killed_at_random_points_resumes_with_every_image_exactly_once(killed_generation):
    _, out, kills = killed_generation
    assert sum(k is not None and 0 < k < 2 * SEEDS for k in kills) >= 2, f"kills landed outside generation: {kills}"
    records = [json.loads(line) for line in _lines(out / "generations.jsonl")]
    pairs = [(r["item_id"], r["seed"]) for r in records]
    assert len(pairs) == len(set(pairs)) == 2 * SEEDS
    with RunStore.open(out, lock=False) as store:
        assert {(i.item_id, s) for i in store.probes() for s in range(SEEDS)} == set(pairs)
    pngs = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png"))
    assert pngs == sorted(r["image_path"] for r in records)
    assert not list(out.rglob("*.tmp"))


def test_scoring_killed_at_random_points_resumes_with_every_image_scored_exactly_once(killed_generation, tmp_path):
    config, generated, _ = killed_generation
    out = tmp_path / "run"
    shutil.copytree(generated, out)
    rng = random.Random(15)
    command = [*cli_command(), "score", str(out), "--batch-size", "2", "--flush-every", "2", "--device", "cpu", "-q"]
    kills = []
    for _ in range(TRIALS):
        kills.append(_kill_at_random(command, lambda: _score_parts(out), rng.randint(1, SEEDS), rng.uniform(0, 0.2)))
    assert any(k is not None for k in kills), "the scoring must be killed part-way for this test to mean anything"
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr

    with RunStore.open(out, lock=False) as store:
        images = {r.record_id for r in store.generations() if r.ok}
        scores = store.read_table("scores.parquet")
        measurements = store.read_table("measurements.parquet")
    assert set(scores["record_id"]) == images
    # One set of rows per (image, classifier): every image has the same rows, none twice.
    assert not scores.duplicated(["record_id", "classifier", "attribute", "label"]).any()
    assert scores.groupby("record_id").size().nunique() == 1
    assert not measurements.duplicated(["record_id", "classifier", "measurement"]).any()
    assert measurements.groupby("record_id").size().nunique() == 1 and set(measurements["record_id"]) == images
    assert _score_parts(out) == 0, "the parts are merged at the end of the stage"


def test_resume_of_a_finished_run_makes_nothing_new(write_config, tiny_sd_path, tmp_path):
    config = write_config(
        f'name: again\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2}}\nprobes: [{{suite: demo, seeds: 1}}]\n'
    )
    out = tmp_path / "run"
    for _ in range(2):  # in this process: nothing is killed here, and each installed command imports torch afresh
        done = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--resume", "-q"])
        assert done.exit_code == 0, done.output
    assert len(_lines(out / "generations.jsonl")) == 2
