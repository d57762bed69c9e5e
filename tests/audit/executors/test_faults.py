"""Faults a long run meets: out of memory, NaN and black images, a full disk, an unreachable model hub."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import time
from pathlib import Path

import torch
from PIL import Image
from typer.testing import CliRunner

from audit.cli import app
from audit.core.run_store import RunStore
from generators import DDPMGenerator, DiffusersGenerator, DiffusersParams, Generator, GeneratorParams
from generators.base import ALL_BLACK, NON_FINITE, OUT_OF_MEMORY
from probes import load_suite
from tests.conftest import cli_command

CONFIG = {"name": "faults", "generator": {"type": "test"}}


class MemoryBound(Generator):
    """Images of one colour per seed, from a 'device' that runs out of memory above ``limit`` images a call."""

    type_name = "memory-bound"

    def __init__(self, params: GeneratorParams, limit: int) -> None:
        super().__init__(params)
        self.limit = limit
        self.calls: list[int] = []

    def _generate_batch(self, items, rngs):
        self.calls.append(len(items))
        if len(items) > self.limit:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(items)} images")
        return [Image.new("RGB", (8, 8), (rng.initial_seed() * 40 % 256, 1, 2)) for rng in rngs]


def _items(n: int = 2):
    return load_suite("demo").expand()[:n]


def test_out_of_memory_halves_the_batch_keeps_the_size_that_fits_and_makes_every_image(tmp_path, caplog):
    generator = MemoryBound(GeneratorParams(batch_size=8), limit=3)
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        records = generator.generate(_items(), range(8), store)
        assert len(records) == 16 and all(r.ok for r in records)
        # 8 fails, 4 fails, then 2 fits and is kept for every later call.
        assert generator.calls == [8, 4, 2, 2, 2, 2, 2, 2, 2, 2]
        assert all(r.meta["batch_size"] == 2 for r in records)  # the shape the images were made at
        assert "out of memory at batch size 8; retrying with 4" in caplog.text
        assert store.done_pairs() == {(i.item_id, s) for i in _items() for s in range(8)}


def test_an_image_that_does_not_fit_even_alone_is_a_failed_record_and_the_run_goes_on(tmp_path):
    generator = MemoryBound(GeneratorParams(batch_size=2), limit=0)
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        records = generator.generate(_items(1), [0, 1], store)
        assert [r.error for r in records] == [OUT_OF_MEMORY, OUT_OF_MEMORY]
        assert store.done_pairs() == set()


def _unet_hook(generator: DiffusersGenerator, hook, *, kind: str):
    generator.load()
    unet = generator.pipeline.unet
    if kind == "pre":
        return unet.register_forward_pre_hook(hook)
    return unet.register_forward_hook(hook)


def test_out_of_memory_backs_off_on_the_diffusers_path_too(tiny_sd_path, tmp_path):
    items, seeds = _items(), [0, 1]
    # The tiny pipeline's UNet "runs out of memory" above 2 images (4 rows with classifier-free guidance).
    backed_off = DiffusersGenerator(DiffusersParams(model=str(tiny_sd_path), steps=2, batch_size=4))

    def limit(module, args):
        if args[0].shape[0] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    _unet_hook(backed_off, limit, kind="pre")
    with RunStore.create(tmp_path / "a", config=CONFIG) as store:
        records = backed_off.generate(items, seeds, store)
    assert backed_off._fitted_batch == 2
    assert all(r.ok and r.meta["batch_size"] == 2 for r in records)
    # The images are those of a run made at batch size 2 from the start: the back-off is recorded and repeatable.
    direct = DiffusersGenerator(DiffusersParams(model=str(tiny_sd_path), steps=2, batch_size=2))
    with RunStore.create(tmp_path / "b", config=CONFIG) as store:
        expected = direct.generate(items, seeds, store)
    assert {(r.item_id, r.seed): r.sha256 for r in records} == {(r.item_id, r.seed): r.sha256 for r in expected}


def test_nan_images_are_failed_records_never_scored_and_counted_in_the_report(tiny_sd_path, tmp_path):
    from audit.runner import report, score
    from reports import build_digest

    generator = DiffusersGenerator(DiffusersParams(model=str(tiny_sd_path), steps=2, batch_size=2))

    def poison_first_image(module, args, output):
        # Row 0 is the unconditional half of the batch's first image: only that image turns NaN.
        sample = output[0] if isinstance(output, tuple) else output.sample
        sample[0] = float("nan")

    _unet_hook(generator, poison_first_image, kind="post")
    config = {
        "name": "nan",
        "generator": {"type": "diffusers", "model": str(tiny_sd_path), "steps": 2, "batch_size": 2},
        "probes": [{"suite": "demo", "seeds": 2}],
        "classifiers": [{"type": "skin_tone"}],
    }
    with RunStore.create(tmp_path / "run", config=config) as store:
        items = _items()
        store.write_probes(items)
        records = generator.generate(items, [0, 1], store)
        failed = [r for r in records if not r.ok]
        # The first image of each batch came back NaN: failed with its reason, no image file.
        assert [(r.seed, r.error) for r in failed] == [(0, NON_FINITE), (0, NON_FINITE)]
        assert all(r.image_path is None for r in failed)
        assert score(store, device="cpu") == {"scored": 2, "skipped": 0, "total": 2}
        scored = set(store.read_table("scores.parquet")["record_id"])
        assert scored == {r.record_id for r in records if r.ok}
    assert build_digest(tmp_path / "run")["counts"]["images_failed"] == 2
    # The report counts them, and names the reason ("non-finite output") of each.
    with RunStore.open(tmp_path / "run") as store:
        report(store)
    assert "non-finite output" in (tmp_path / "run" / "report.html").read_text()


def test_nan_images_from_our_ddpm_are_failed_records_too(tmp_path):
    items = [load_suite("unconditional").expand()[0]]
    params = DDPMGenerator.example_params(tmp_path, items, [0, 1])
    generator = DDPMGenerator(params)
    generator.load()
    generator.denoiser.model.register_forward_hook(
        lambda m, a, out: out.index_fill_(0, torch.tensor([1]), float("nan"))
    )
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        records = generator.generate(items, [0, 1], store)
    assert [(r.seed, r.ok, r.error) for r in records] == [(0, True, None), (1, False, NON_FINITE)]


class Blackout(Generator):
    """Black images for odd seeds (what a NaN becomes on the way to uint8, or a blacked-out output)."""

    type_name = "blackout"

    def _generate_batch(self, items, rngs):
        return [Image.new("RGB", (8, 8), (0, 0, 0) if rng.initial_seed() % 2 else (9, 9, 9)) for rng in rngs]


def test_all_black_images_are_failed_records(tmp_path):
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        records = Blackout().generate(_items(1), [0, 1, 2, 3], store)
    assert [(r.seed, r.error) for r in records] == [(0, None), (1, ALL_BLACK), (2, None), (3, ALL_BLACK)]


def _folder_run(tmp_path: Path, seeds: int) -> Path:
    """A config whose images come from a folder of small PNGs (cheap to make, so the manifest grows first)."""
    lines = ["prompt,seed,image"]
    for n, item in enumerate(_items()):
        for seed in range(seeds):
            Image.new("RGB", (64, 64), (n * 100, seed * 10, 50)).save(tmp_path / f"{n}-{seed}.png")
            lines.append(f'"{item.prompt}",{seed},{n}-{seed}.png')
    (tmp_path / "manifest.csv").write_text("\n".join(lines) + "\n")
    config = tmp_path / "config.yaml"
    config.write_text(
        f'name: full\ngenerator: {{type: folder, manifest: "{tmp_path / "manifest.csv"}", batch_size: 2}}\n'
        f"probes: [{{suite: demo, seeds: {seeds}}}]\nclassifiers: [{{type: skin_tone}}]\n"
    )
    return config


def _limit_file_size(limit: int):
    def apply() -> None:
        # Writes past the limit fail (EFBIG), as on a full disk (ENOSPC), instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_stops_the_run_with_one_line_and_resume_finishes_it_exactly_once(tmp_path):
    seeds = 12
    config = _folder_run(tmp_path, seeds)
    out = tmp_path / "run"
    full = subprocess.run(
        [*cli_command(), "run", str(config), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size(12_000),  # generations.jsonl outgrows this after a few batches
    )
    assert full.returncode == 2, full.stderr
    error = [line for line in full.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "no room to write" in error[0] and "--resume" in error[0], full.stderr
    assert "Traceback" not in full.stderr
    lines = (out / "generations.jsonl").read_bytes()
    assert lines.endswith(b"\n"), "no half-written record is left behind"
    kept = [json.loads(line) for line in lines.splitlines()]
    assert 0 < len(kept) < 2 * seeds
    assert all((out / r["image_path"]).is_file() for r in kept)

    # The resumed run needs no limit: this process runs it (an installed command would import torch afresh).
    resumed = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--resume", "-q"])
    assert resumed.exit_code == 0, resumed.output
    records = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    pairs = [(r["item_id"], r["seed"]) for r in records]
    assert len(pairs) == len(set(pairs)) == 2 * seeds
    assert sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png")) == sorted(
        r["image_path"] for r in records
    )
    with RunStore.open(out, lock=False) as store:
        scores = store.read_table("scores.parquet")
    assert scores.groupby(["record_id", "classifier"]).size().nunique() == 1
    assert scores["record_id"].nunique() == 2 * seeds


def test_an_unreachable_model_hub_fails_in_seconds_with_one_line(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        'name: hub\ngenerator: {type: diffusers, model: "nobody-xyz/not-a-cached-model", steps: 2}\n'
        "probes: [{suite: demo, seeds: 1}]\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    # A hub nobody answers at (the discard port of this machine), and a cache of the test's own.
    env |= {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path / "hf")}
    started = time.monotonic()
    done = subprocess.run(
        [*cli_command(), "run", str(config), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "nobody-xyz/not-a-cached-model" in errors[0]
    assert "cannot be reached" in done.stderr
    # The hub client's retries (a warning each, about half a minute in all) never start.
    assert "Retrying" not in done.stderr and "thrown while requesting" not in done.stderr
    assert elapsed < 60, f"took {elapsed:.0f} s"
