"""The ``python`` generator: a model built by a ``module:callable`` or an entry point, with every guarantee.

The model is the project's own tiny DCGAN (generators/tiny_gan.py); the real DCGAN face generator of
``gan-face-generate`` is tested at the end when it is installed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audit.core.errors import DiffauditError, ModelNotFoundError
from audit.core.run_store import RunStore
from generators import PythonModelGenerator, PythonModelParams, generator_class
from generators.base import NON_FINITE, OUT_OF_MEMORY
from generators.dcgan_faces import INSTALL, gan_face_available
from probes import load_suite
from tests.conftest import cli_command

TINY = "generators.tiny_gan:tiny_dcgan"


def _params(**kw) -> PythonModelParams:
    return PythonModelParams(**{"model": TINY, "latent_shape": [8, 1, 1], "batch_size": 4, **kw})


def _generate(params, items, seeds, root):
    with RunStore.create(root, config={}) as store:
        records = PythonModelGenerator(params).generate(items, seeds, store)
    return {(r.item_id, r.seed): r for r in records}


def test_python_is_a_registered_generator_type():
    assert generator_class("python") is PythonModelGenerator


def test_the_same_seed_gives_the_same_bytes_and_seeds_differ(tmp_path):
    items = load_suite("unconditional").expand()
    first = _generate(_params(), items, range(6), tmp_path / "a")
    second = _generate(_params(), items, range(6), tmp_path / "b")
    assert {k: r.sha256 for k, r in first.items()} == {k: r.sha256 for k, r in second.items()}
    assert len({r.sha256 for r in first.values()}) == 6
    record = first[(items[0].item_id, 0)]
    assert (record.width, record.height) == (16, 16)
    assert record.meta["conditioning"] == "latent"
    assert record.meta["prompt"].startswith("ignored")  # an unconditional model says it ignored the prompt
    assert record.generator == f"python:{TINY}"


def test_an_image_does_not_depend_on_the_batch_it_was_made_in(tmp_path):
    items = load_suite("unconditional").expand()
    full = _generate(_params(batch_size=8), items, range(8), tmp_path / "full")
    for seed in (0, 5, 7):  # alone, as a resumed run with one image left makes it (padded to the batch shape)
        alone = _generate(_params(batch_size=8), items, [seed], tmp_path / f"alone-{seed}")
        assert alone[(items[0].item_id, seed)].sha256 == full[(items[0].item_id, seed)].sha256


def test_a_prompt_model_sees_each_prompt_and_its_own_generator(tmp_path):
    items = load_suite("demo").expand()
    params = _params(model="generators.tiny_gan:tiny_prompt_model", conditioning="prompt", value_range="0..1")
    records = _generate(params, items, [0, 1], tmp_path / "run")
    assert len({r.sha256 for r in records.values()}) == 4
    assert "prompt" not in records[(items[0].item_id, 0)].meta  # it read the prompt: nothing to disclaim
    again = _generate(params, items[::-1], [1, 0], tmp_path / "again")
    assert {k: r.sha256 for k, r in again.items()} == {k: r.sha256 for k, r in records.items()}


def explodes_above_two(latent_dim: int = 8):
    """A test model that runs out of memory on batches of more than two and returns NaN for negative latents."""
    import torch

    from generators.tiny_gan import tiny_dcgan

    net = tiny_dcgan(latent_dim)

    def model(z):
        if z.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated by the test model)")
        out = net(z)
        out[z[:, 0, 0, 0] > 1.5] = float("nan")
        return out

    return model


def test_out_of_memory_halves_the_batch_and_nan_images_are_failed_records(tmp_path):
    items = load_suite("unconditional").expand()
    params = _params(model="tests.generators.test_python_model:explodes_above_two", batch_size=8)
    records = _generate(params, items, range(16), tmp_path / "run")
    assert len(records) == 16
    failed = [r for r in records.values() if not r.ok]
    assert failed and all(r.error == NON_FINITE for r in failed)
    assert all(r.meta.get("batch_size") == 2 for r in records.values() if r.ok)
    assert not any(r.error == OUT_OF_MEMORY for r in records.values())


@pytest.mark.parametrize(
    "model, error, words",
    [
        ("", DiffauditError, "module:callable"),
        ("no_such_package_xyz:make", ModelNotFoundError, "cannot import 'no_such_package_xyz'"),
        ("generators.tiny_gan:nothing_here", DiffauditError, "has no 'nothing_here'"),
        ("generators.tiny_gan", DiffauditError, "is not 'package.module:callable'"),
        ("entry-point:no-such-model", ModelNotFoundError, "no entry point 'no-such-model' in group diffaudit.models"),
    ],
)
def test_a_model_that_cannot_be_found_is_one_clear_line(model, error, words, tmp_path):
    with pytest.raises(error, match=None) as caught:
        PythonModelGenerator(_params(model=model)).load()
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_factory_that_fails_is_named_in_one_line(tmp_path):
    with pytest.raises(DiffauditError, match=r"'generators.tiny_gan:tiny_dcgan' failed to build the model: TypeError"):
        PythonModelGenerator(_params(options={"no_such_option": 1})).load()


def slow_tiny(latent_dim: int = 8):
    """The tiny DCGAN, slowed down so that the test can kill the run part-way."""
    from generators.tiny_gan import tiny_dcgan

    net = tiny_dcgan(latent_dim)

    def model(z):
        time.sleep(0.05)
        return net(z)

    return model


def test_a_run_killed_part_way_resumes_with_every_image_exactly_once(tmp_path):
    seeds = 40
    config = tmp_path / "config.yaml"
    config.write_text(
        "name: killed\n"
        'generator: {type: python, model: "tests.generators.test_python_model:slow_tiny", '
        "latent_shape: [8, 1, 1], batch_size: 4}\n"
        f"probes: [{{suite: unconditional, seeds: {seeds}}}]\n"
    )
    out = tmp_path / "run"
    log = out / "generations.jsonl"
    command = [*cli_command(), "generate", str(config), "--out", str(out), "--resume", "-q"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    kills = []
    for target in (4, 16):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 120
        while (len(log.read_text().splitlines()) if log.exists() else 0) < target and process.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.005)
        assert process.poll() is None, process.stderr.read().decode()
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills.append(len(log.read_text().splitlines()))
    assert all(0 < k < seeds for k in kills), kills
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert finished.returncode == 0, finished.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    pairs = [(r["item_id"], r["seed"]) for r in records]
    assert len(pairs) == len(set(pairs)) == seeds
    assert sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png")) == sorted(
        r["image_path"] for r in records
    )
    # The resumed images are the ones an uninterrupted run makes.
    fresh = _generate(_params(), load_suite("unconditional").expand(), range(seeds), tmp_path / "fresh")
    assert {(r["item_id"], r["seed"]): r["sha256"] for r in records} == {k: r.sha256 for k, r in fresh.items()}


# -- the real DCGAN face generator of gan-face-generate -------------------------------------------------------
needs_gan_face = pytest.mark.skipif(not gan_face_available(), reason=f"gan-face-generate not installed ({INSTALL})")


@needs_gan_face
def test_the_dcgan_face_generator_makes_64px_faces_with_its_package_recorded(tmp_path):
    items = load_suite("unconditional").expand()
    params = PythonModelParams(model="entry-point:dcgan-faces", latent_shape=[100, 1, 1], batch_size=8)
    records = _generate(params, items, range(8), tmp_path / "run")
    record = records[(items[0].item_id, 0)]
    assert (record.width, record.height) == (64, 64) and record.ok
    assert record.meta["model_package"] == "gan-face-generate 1.1.1"
    assert len(record.meta["model_weights_sha256"]) == 64
    assert "entry point 'dcgan-faces'" in record.meta["model_source"]
    from audit.classifiers import classifier_class
    from audit.classifiers.skin_tone import yunet_available

    if yunet_available():  # the pretrained generator makes faces a detector finds
        from PIL import Image

        classifier = classifier_class("skin_tone")()
        images = [Image.open(tmp_path / "run" / r.image_path).convert("RGB") for r in records.values()]
        found = [("face_detected", "yes", 1.0) in result.labels for result in classifier.classify(images)]
        assert sum(found) >= 6, found  # about nine in ten of its images (benchmarks/RESULTS.md)


def test_without_gan_face_generate_the_audit_stops_in_one_line_saying_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gan_face_generate", None)  # as if it were not installed
    params = PythonModelParams(model="entry-point:dcgan-faces", latent_shape=[100, 1, 1])
    with pytest.raises(ModelNotFoundError) as caught:
        PythonModelGenerator(params).load()
    assert "pip install --no-deps gan-face-generate==1.1.1" in str(caught.value) and "\n" not in str(caught.value)
