"""The first vertical slice: a tiny real diffusers pipeline, saved and loaded back by path."""

import hashlib
import json

import pytest
from typer.testing import CliRunner

from audit import runner as stages
from audit.cli import app
from audit.config import load_config
from audit.errors import ModelNotFoundError
from audit.run_store import RunStore
from generators import DiffusersGenerator, DiffusersParams
from probes import load_suite


def _config(write_config, model, *, seeds=2, batch_size=2):
    return write_config(
        f"""\
name: slice
generator:
  type: diffusers
  model: "{model}"
  steps: 3
  guidance: 4.0
  batch_size: {batch_size}
probes:
  - suite: demo
    seeds: {seeds}
"""
    )


def _run(write_config, model, out, **kwargs):
    with stages.prepare(load_config(_config(write_config, model, **kwargs)), out) as store:
        counts = stages.generate(store)
        return counts, {(r.item_id, r.seed): r for r in store.generations()}


def test_tiny_pipeline_makes_the_same_bytes_twice_for_the_same_seed(write_config, tiny_sd_path, tmp_path):
    counts, first = _run(write_config, tiny_sd_path, tmp_path / "a")
    assert counts == {"made": 4, "failed": 0, "total": 4}
    _, second = _run(write_config, tiny_sd_path, tmp_path / "b", batch_size=1)
    assert first.keys() == second.keys()
    for key, record in first.items():
        data = (tmp_path / "a" / record.image_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record.sha256 == second[key].sha256
    # Different seeds give different images.
    for item_id in {item_id for item_id, _ in first}:
        assert first[(item_id, 0)].sha256 != first[(item_id, 1)].sha256


def test_records_say_how_each_image_was_made(write_config, tiny_sd_path, tmp_path):
    _, records = _run(write_config, tiny_sd_path, tmp_path / "run", seeds=1)
    record = next(iter(records.values()))
    assert record.image_path == f"images/{record.item_id}/{record.seed}.png"
    assert (record.width, record.height) == (64, 64)
    assert (record.steps, record.guidance) == (3, 4.0)
    assert record.meta == {
        "pipeline": "StableDiffusionPipeline",
        "scheduler": "DDIMScheduler",
        "dtype": "float32",
        "device": "cpu",
    }
    assert record.generator == f"diffusers:{tiny_sd_path}"


def test_scheduler_override_by_class_name(tiny_sd_path, tmp_path):
    generator = DiffusersGenerator(
        DiffusersParams(model=str(tiny_sd_path), steps=2, scheduler="EulerDiscreteScheduler")
    )
    items = load_suite("demo").expand()[:1]
    with RunStore.create(tmp_path / "run", config={}) as store:
        (record,) = generator.generate(items, [0], store)
    assert record.ok and record.meta["scheduler"] == "EulerDiscreteScheduler"


def test_a_model_that_is_not_cached_fails_offline_in_one_line(tmp_path):
    generator = DiffusersGenerator(DiffusersParams(model="nobody/no-such-model-xyz"))
    items = load_suite("demo").expand()
    with RunStore.create(tmp_path / "run", config={}) as store:
        with pytest.raises(ModelNotFoundError) as info:
            generator.generate(items, [0], store)
    message = str(info.value)
    assert "\n" not in message
    assert "nobody/no-such-model-xyz" in message and "huggingface-cli download" in message


def test_missing_model_through_the_cli_exits_2_and_leaves_the_run_consistent(write_config, tmp_path):
    out = tmp_path / "run"
    config = _config(write_config, "nobody/no-such-model-xyz")
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "huggingface-cli download" in result.stderr
    with RunStore.open(out) as store:  # reopens cleanly: run.yaml and probes, no images
        assert store.generations() == [] and len(store.probes()) == 2


def test_builtin_default_runs_end_to_end_through_the_cli(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["run", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.stdout
    lines = (out / "generations.jsonl").read_text().splitlines()
    assert len(lines) == 6  # the demo suite: 2 prompts × 3 seeds
    for line in lines:
        assert (out / json.loads(line)["image_path"]).is_file()
    assert (out / "run.yaml").is_file() and (out / "summary.json").is_file()
