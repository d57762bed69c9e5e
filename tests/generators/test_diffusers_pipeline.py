"""The first vertical slice: a tiny real diffusers pipeline, saved and loaded back by path."""

import dataclasses
import hashlib
import json

import pytest
from typer.testing import CliRunner

from audit import runner as stages
from audit.cli import app
from audit.config import load_config
from audit.core.errors import ModelNotFoundError
from audit.core.run_store import RunStore
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
    _, second = _run(write_config, tiny_sd_path, tmp_path / "b")
    assert first.keys() == second.keys()
    for key, record in first.items():
        data = (tmp_path / "a" / record.image_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record.sha256 == second[key].sha256
    # Different seeds, and different prompts, give different images.
    assert len({r.sha256 for r in first.values()}) == 4


def test_tiny_pipeline_tokenizes_as_open_clip_does(tiny_sd_path):
    import open_clip
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny_sd_path / "tokenizer")
    reference = open_clip.tokenizer.SimpleTokenizer()
    for text in ("a photo of the face of a nurse", "An Astronaut, riding a horse!"):
        ours = tokenizer(text).input_ids
        assert ours == [49406, *reference.encode(text), 49407]


def test_records_say_how_each_image_was_made(write_config, tiny_sd_path, tmp_path):
    _, records = _run(write_config, tiny_sd_path, tmp_path / "run", seeds=1)
    record = next(iter(records.values()))
    assert record.image_path == f"images/{record.item_id}/{record.seed}.png"
    assert (record.width, record.height) == (64, 64)
    assert (record.steps, record.guidance) == (3, 4.0)
    assert {k: record.meta[k] for k in ("pipeline", "scheduler", "dtype", "device")} == {
        "pipeline": "StableDiffusionPipeline",
        "scheduler": "DDIMScheduler",
        "dtype": "float32",
        "device": "cpu",
    }
    assert set(record.meta["versions"]) == {"python", "diffusers", "torch", "transformers"}
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


def test_missing_model_through_the_cli_exits_2_and_leaves_nothing_that_blocks_the_rerun(write_config, tmp_path):
    out = tmp_path / "run"
    config = _config(write_config, "nobody/no-such-model-xyz")
    for _ in range(2):  # the same command again says the same: no half-made run stands in its way
        result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and "huggingface-cli download" in result.stderr
        assert not (out / "run.yaml").exists()


def test_builtin_tiny_pipeline_runs_end_to_end_through_the_cli(write_config, tmp_path):
    out = tmp_path / "demo"
    config = write_config(
        'name: demo\ngenerator: {type: diffusers, model: "builtin:tiny-sd", steps: 4, batch_size: 3}\n'
        "probes: [{suite: demo, seeds: 3}]\nclassifiers: [{type: skin_tone}]\npolicy: default\n"
    )
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert f"report: {out / 'report.html'}" in result.stdout
    lines = (out / "generations.jsonl").read_text().splitlines()
    assert len(lines) == 6  # the demo suite: 2 prompts × 3 seeds
    for line in lines:
        assert (out / json.loads(line)["image_path"]).is_file()
    assert (out / "run.yaml").is_file() and (out / "summary.json").is_file()


def _generate(params, items, seeds, root):
    with RunStore.create(root, config={}) as store:
        records = DiffusersGenerator(params).generate(items, seeds, store)
        return {(r.item_id, r.seed): r for r in records}


def test_an_image_does_not_depend_on_the_batch_it_was_made_in(tiny_sd_path, tmp_path):
    items = load_suite("demo").expand()
    params = DiffusersParams(model=str(tiny_sd_path), steps=2, batch_size=8)
    # Eight images in one call: (doctor, 0..3) and (nurse, 0..3) side by side ...
    full = _generate(params, items, [0, 1, 2, 3], tmp_path / "full")
    # ... and each of three of them made alone, as a resumed run with one image left would.
    for item, seed in [(items[0], 0), (items[1], 3), (items[1], 1)]:
        alone = _generate(params, [item], [seed], tmp_path / f"alone-{item.item_id}-{seed}")
        assert alone[(item.item_id, seed)].sha256 == full[(item.item_id, seed)].sha256


def test_sdxl_style_pipeline_loads_by_path_and_generates(tmp_path):
    from tests.generators.tiny_models import build_tiny_sdxl

    path = build_tiny_sdxl(tmp_path / "tiny-sdxl")
    items = load_suite("demo").expand()[:1]
    records = _generate(DiffusersParams(model=str(path), steps=2, batch_size=2), items, [0, 1], tmp_path / "run")
    assert all(r.ok for r in records.values())
    assert {r.meta["pipeline"] for r in records.values()} == {"StableDiffusionXLPipeline"}
    assert {r.meta["scheduler"] for r in records.values()} == {"EulerDiscreteScheduler"}
    assert len({r.sha256 for r in records.values()}) == 2


def test_kept_safety_checker_records_its_flag_and_never_blacks_out_images(tiny_sd_path, tmp_path):
    import shutil

    import numpy as np
    from PIL import Image

    from tests.generators.tiny_models import add_tiny_safety_checker

    path = add_tiny_safety_checker(shutil.copytree(tiny_sd_path, tmp_path / "with-checker"))
    items = load_suite("demo").expand()
    kept = _generate(DiffusersParams(model=str(path), steps=2, safety_checker=True), items, [0, 1], tmp_path / "kept")
    off = _generate(DiffusersParams(model=str(path), steps=2), items, [0, 1], tmp_path / "off")
    for key, record in kept.items():
        assert isinstance(record.meta["safety_checker_flag"], bool)
        assert "safety_checker_flag" not in off[key].meta
        # Same pixels with the checker on or off: it is a measurement, not a filter.
        assert record.sha256 == off[key].sha256
        pixels = np.asarray(Image.open(tmp_path / "kept" / record.image_path))
        assert pixels.max() > 0


def test_memory_savers_run_on_cpu(tiny_sd_path, tmp_path):
    params = DiffusersParams(model=str(tiny_sd_path), steps=2, attention_slicing=True, vae_tiling=True)
    records = _generate(params, load_suite("demo").expand()[:1], [0], tmp_path / "run")
    assert all(r.ok for r in records.values())


def test_cpu_offload_without_a_gpu_is_a_clear_error(tiny_sd_path, tmp_path):
    from audit.core.errors import DiffauditError

    params = DiffusersParams(model=str(tiny_sd_path), steps=2, cpu_offload="model", device="cpu")
    with pytest.raises(DiffauditError, match="cpu_offload needs"):
        _generate(params, load_suite("demo").expand()[:1], [0], tmp_path / "run")


def test_an_unconditional_pipeline_is_refused_saying_what_was_found(tmp_path):
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    from audit.core.errors import DiffauditError

    unet = UNet2DModel(
        sample_size=8,
        block_out_channels=(32, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
    )
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler()).save_pretrained(tmp_path / "ddpm")
    with pytest.raises(DiffauditError, match="is a DDPMPipeline, which is not a text-to-image pipeline"):
        _generate(DiffusersParams(model=str(tmp_path / "ddpm")), load_suite("demo").expand(), [0], tmp_path / "run")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DiffauditError, match="not a diffusers pipeline folder"):
        _generate(DiffusersParams(model=str(tmp_path / "empty")), load_suite("demo").expand(), [0], tmp_path / "run2")


class _FailsOnSomePrompts(DiffusersGenerator):
    """The real tiny pipeline, with a fault injected for prompts that mention a nurse."""

    def _generate_batch(self, items, rngs):
        if any("nurse" in item.prompt for item in items):
            raise RuntimeError("injected fault")
        return super()._generate_batch(items, rngs)


def test_a_failed_image_is_recorded_and_the_run_goes_on(tiny_sd_path, tmp_path):
    items = load_suite("demo").expand()
    with RunStore.create(tmp_path / "run", config={}) as store:
        generator = _FailsOnSomePrompts(DiffusersParams(model=str(tiny_sd_path), steps=2, batch_size=4))
        records = generator.generate(items, [0, 1], store)
        by_prompt = {}
        for record in records:
            by_prompt.setdefault(record.item_id, []).append(record)
        doctor, nurse = (by_prompt[item.item_id] for item in items)
        assert all(r.ok for r in doctor)
        assert [r.error for r in nurse] == ["RuntimeError: injected fault"] * 2
        assert store.done_pairs() == {(items[0].item_id, 0), (items[0].item_id, 1)}


class _CountsCalls(DiffusersGenerator):
    calls: list[int]

    def _generate_batch(self, items, rngs):
        self.calls.append(len(items))
        return super()._generate_batch(items, rngs)


def test_pairs_with_seeds_of_their_own_fill_whole_batches(tiny_sd_path, tmp_path):
    # I2P-style: every prompt has its own published seed; batches still fill up.
    doctor, nurse = load_suite("demo").expand()
    pairs = [(doctor, 11), (nurse, 22), (doctor, 33), (nurse, 44), (doctor, 55)]
    generator = _CountsCalls(DiffusersParams(model=str(tiny_sd_path), steps=2, batch_size=4))
    generator.calls = []
    with RunStore.create(tmp_path / "run", config={}) as store:
        records = generator.generate_pairs(pairs, store)
    assert [(r.item_id, r.seed) for r in records] == [(i.item_id, s) for i, s in pairs]
    assert generator.calls == [4, 4]  # two model calls, the second padded to the batch size


def test_items_with_their_own_guidance_are_made_with_it_in_batches_of_their_own(tiny_sd_path, tmp_path):
    from audit.core.records import ProbeItem

    def item(prompt, guidance):
        return ProbeItem.create(suite="t", prompt=prompt, attributes={"guidance": guidance})

    low = [item(f"a photo of a cat {n}", 7) for n in range(3)]
    high = [item(f"a photo of a dog {n}", 12) for n in range(2)]
    pairs = [(low[0], 1), (high[0], 2), (low[1], 3), (high[1], 4), (low[2], 5)]
    params = DiffusersParams(model=str(tiny_sd_path), steps=2, batch_size=4, guidance_from_item=True)
    generator = _CountsCalls(params)
    generator.calls = []
    with RunStore.create(tmp_path / "own", config={}) as store:
        records = {r.item_id: r for r in generator.generate_pairs(pairs, store)}
    assert generator.calls == [4, 4]  # one call per guidance value, never mixed
    assert [records[i.item_id].guidance for i in low + high] == [7.0, 7.0, 7.0, 12.0, 12.0]
    # The guidance is really applied: the same image at the run-wide guidance differs.
    with RunStore.create(tmp_path / "global", config={}) as store:
        (plain,) = DiffusersGenerator(dataclasses.replace(params, guidance_from_item=False)).generate(
            [high[0]], [2], store
        )
    assert plain.guidance == 7.5 and plain.sha256 != records[high[0].item_id].sha256
