"""The Ray executor on a local Ray instance with 2 CPU workers: the same records as local, and lost workers replaced."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from audit.config import config_from_dict
from audit.core.run_store import SCORES, RunStore
from audit.executors import LocalExecutor, make_executor
from audit.runner import prepare

ray = pytest.importorskip("ray", reason="the ray extra is part of the dev install")

SEEDS = 6  # 12 images in 6 units of one batch: work is still queued when a worker is killed


@pytest.fixture(scope="module")
def local_ray():
    """A Ray instance of this test module's own: 2 CPUs, so 2 workers, shut down afterwards."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def _config(tiny_sd_path: Path) -> dict:
    return {
        "name": "ray",
        "generator": {"type": "diffusers", "model": str(tiny_sd_path), "steps": 2, "batch_size": 2},
        "probes": [{"suite": "demo", "seeds": SEEDS}],
        "classifiers": [{"type": "skin_tone"}],
    }


def _pending(store: RunStore):
    from generators import generator_class

    config = config_from_dict(store.config, source="run.yaml")
    generator = generator_class(config.generator.type)(config.generator.params)
    return generator, generator.pending_pairs(store.pairs(store.probes()), store)


def _records(store: RunStore) -> dict:
    return {(r.item_id, r.seed): {**r.as_dict(), "elapsed_s": None} for r in store.generations()}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, tiny_sd_path):
    """The run made by the local executor, at the one torch thread each Ray CPU worker gets.

    On the CPU, float sums are split by thread, so images are compared at the
    same thread count (records carry it as ``cpu_threads``).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = config_from_dict(_config(tiny_sd_path), source="test")
        with prepare(config, tmp_path_factory.mktemp("local") / "run") as store:
            generator, todo = _pending(store)
            LocalExecutor().generate(store, generator, todo)
            LocalExecutor().score(store, config.classifiers, device="cpu")
            return _records(store), store.read_table(SCORES)
    finally:
        torch.set_num_threads(threads)


def _sorted(scores: pd.DataFrame) -> pd.DataFrame:
    return scores.sort_values(["record_id", "classifier", "attribute", "label"]).reset_index(drop=True)


def _worker_pids(kind: str) -> list[int]:
    """Processes whose title Ray set to ``ray::<kind>...``: the actors, as `ps` shows them."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(f"ray::{kind}".encode()):
                pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def ray_run(local_ray, tmp_path_factory, tiny_sd_path):
    """The same run on 2 Ray CPU workers, one of which is killed (SIGKILL) after the first image comes back."""
    import logging

    config = config_from_dict(_config(tiny_sd_path), source="test")
    killed: list[int] = []
    warnings: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage())

    def kill_a_worker(record):
        if not killed:
            # A worker in the middle of a unit (Ray titles it ray::GenerationWorker.render), else any.
            pids = _worker_pids("GenerationWorker.render") or _worker_pids("GenerationWorker")
            assert pids, "the Ray workers should be running"
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    handler = Collect(level=logging.WARNING)
    logging.getLogger("audit.executors").addHandler(handler)
    try:
        with prepare(config, tmp_path_factory.mktemp("ray") / "run") as store, make_executor("ray", workers=2) as ex:
            generator, todo = _pending(store)
            made = ex.generate(store, generator, todo, on_record=kill_a_worker)
            released = _released("GenerationWorker")
            counts = ex.score(store, config.classifiers, device="cpu", batch_size=2)
            again = ex.generate(store, generator, _pending(store)[1]), ex.score(store, config.classifiers, device="cpu")
            yield {
                "store": store,
                "todo": todo,
                "made": made,
                "counts": counts,
                "again": again,
                "killed": killed,
                "warnings": warnings,
                "released": released,
            }
    finally:
        logging.getLogger("audit.executors").removeHandler(handler)


def _released(kind: str, timeout: float = 30.0) -> bool:
    """Whether every ``kind`` worker process is gone (ray.kill returns before the process has exited)."""
    import time

    deadline = time.monotonic() + timeout
    while _worker_pids(kind):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_ray_workers_make_the_same_records_and_scores_as_the_local_executor(ray_run, local_run):
    records, scores = local_run
    store = ray_run["store"]
    assert len(ray_run["made"]) == len(ray_run["todo"]) == 2 * SEEDS
    assert ray_run["counts"] == {"scored": 2 * SEEDS, "skipped": 0, "total": 2 * SEEDS}
    # Same image bytes for the same seeds, and records equal field by field (time taken aside).
    assert _records(store) == records
    assert all(r["meta"]["cpu_threads"] == 1 for r in records.values())
    pd.testing.assert_frame_equal(_sorted(store.read_table(SCORES)), _sorted(scores))
    scoring = (store.root / "scoring.json").read_text()
    assert "skin_tone" in scoring and '"device": "cpu"' in scoring
    # Nothing left to do: a second pass makes and scores nothing.
    made_again, scored_again = ray_run["again"]
    assert made_again == [] and scored_again["scored"] == 0


def test_a_worker_killed_mid_run_is_replaced_and_its_work_retried(ray_run):
    store, todo = ray_run["store"], ray_run["todo"]
    assert ray_run["killed"], "a worker must have been killed for this test to mean anything"
    assert any("a Ray worker was lost" in w for w in ray_run["warnings"])
    # The run completed: every image exactly once, all of them made.
    assert sorted((r.item_id, r.seed) for r in ray_run["made"]) == sorted((i.item_id, s) for i, s in todo)
    assert all(r.ok for r in ray_run["made"])
    assert len((store.root / "generations.jsonl").read_text().splitlines()) == len(todo)
    assert ray_run["released"], "the workers are released when the stage ends"


def test_ray_cannot_be_combined_with_the_local_executor_options():
    from audit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="--address and --workers are options of the ray executor"):
        make_executor("local", workers=2)
    with pytest.raises(ConfigError, match="unknown executor 'slurm'"):
        make_executor("slurm")


@pytest.mark.slow
def test_ray_workers_run_the_rounds_of_a_sequential_audit_to_the_local_executor_s_decisions(local_ray, tmp_path):
    from audit import runner
    from audit.config import load_config
    from tests.audit.sequential_runs import decisions, made, write_config

    config = load_config(write_config(tmp_path, seeds=32))
    with prepare(config, tmp_path / "local") as store:
        runner.sample(store)
        runner.analyze(store)
    with prepare(config, tmp_path / "ray") as store, make_executor("ray", workers=2) as ex:
        runner.sample(store, executor=ex)
        runner.analyze(store)
        rounds = store.sequential_progress()["rounds_done"]
    assert rounds >= 2
    assert made(tmp_path / "ray") == made(tmp_path / "local")
    assert decisions(tmp_path / "ray") == decisions(tmp_path / "local")
