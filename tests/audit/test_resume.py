"""A run killed between two images resumes, ending with every (item, seed) exactly once."""

import json
import os
import signal
import subprocess
import time

from audit.core.run_store import RunStore
from tests.conftest import cli_command

SEEDS = 8


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_killed_run_resumes_with_every_image_exactly_once(write_config, tiny_sd_path, tmp_path):
    config = write_config(
        f"""\
name: killed
generator: {{type: diffusers, model: "{tiny_sd_path}", steps: 4, batch_size: 1}}
probes: [{{suite: demo, seeds: {SEEDS}}}]
"""
    )
    out = tmp_path / "run"
    log = out / "generations.jsonl"
    process = subprocess.Popen([*cli_command(), "run", str(config), "--out", str(out), "-q"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(_lines(log)) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_at_kill = len(_lines(log))
    assert 2 <= done_at_kill < 2 * SEEDS, "the run must be killed part-way for this test to mean anything"

    resumed = subprocess.run(
        [*cli_command(), "run", str(config), "--out", str(out), "--resume", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr

    records = [json.loads(line) for line in _lines(log)]
    pairs = [(r["item_id"], r["seed"]) for r in records]
    assert len(pairs) == len(set(pairs)) == 2 * SEEDS
    with RunStore.open(out) as store:
        assert {(i.item_id, s) for i in store.probes() for s in range(SEEDS)} == set(pairs)
    pngs = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png"))
    assert pngs == sorted(r["image_path"] for r in records)


def test_resume_of_a_finished_run_makes_nothing_new(write_config, tiny_sd_path, tmp_path):
    config = write_config(
        f'name: again\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2}}\nprobes: [{{suite: demo, seeds: 1}}]\n'
    )
    out = tmp_path / "run"
    for _ in range(2):
        done = subprocess.run(
            [*cli_command(), "run", str(config), "--out", str(out), "--resume", "-q"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    assert len(_lines(out / "generations.jsonl")) == 2
