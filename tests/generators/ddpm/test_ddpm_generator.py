"""The ``ddpm`` generator: our checkpoints and diffusers UNets as images in a run, class from the probe item."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from audit.core.errors import DiffauditError, ModelNotFoundError
from audit.core.records import ProbeItem, stable_hash
from audit.core.run_store import RunStore
from generators import DDPMGenerator, DDPMParams, generator_class
from generators.ddpm import NoiseSchedule, Trainer, TrainingConfig
from tests.generators.ddpm.tiny_unet import tiny_unet


def _item(attributes: dict) -> ProbeItem:
    return ProbeItem(item_id=stable_hash(attributes), suite="ddpm", prompt="", attributes=attributes)


@pytest.fixture(scope="module")
def conditional_checkpoint(tmp_path_factory):
    unet = tiny_unet(attention_resolutions=(), num_classes=2)
    folder = tmp_path_factory.mktemp("models") / "cats-dogs"
    Trainer(unet, NoiseSchedule.make(), TrainingConfig(steps=0), class_names=["cat", "dog"], device="cpu").save(
        folder
    )
    return folder


def test_ddpm_is_a_registered_generator_type():
    assert generator_class("ddpm") is DDPMGenerator


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm_solver++"])
def test_class_label_comes_from_the_item_attributes(conditional_checkpoint, tmp_path, sampler):
    items = [_item({"class": "cat"}), _item({"class": 1}), _item({"occupation": "nurse"})]
    params = DDPMParams(
        model=str(conditional_checkpoint), sampler=sampler, steps=3, guidance=3.0, device="cpu", batch_size=3
    )
    generator = DDPMGenerator(params)
    with RunStore.create(tmp_path / "run", config={}) as store:
        records = generator.generate(items, [0, 1], store)
        assert all(r.ok for r in records) and len(records) == 6
        assert [generator.class_label(i) for i in items] == [0, 1, None]
        image = Image.open(tmp_path / "run" / records[0].image_path)
        assert image.size == (8, 8) and image.mode == "RGB"
        assert records[0].meta["sampler"] == sampler and records[0].meta["model_format"] == "checkpoint"
        assert records[0].meta["device"] == "cpu" and records[0].meta["dtype"] == "float32"


def test_the_same_seed_gives_the_same_image_in_any_batch(conditional_checkpoint):
    params = dict(model=str(conditional_checkpoint), sampler="ddim", eta=1.0, steps=3, guidance=2.0, device="cpu")
    items = [_item({"class": "dog"}), _item({"class": "cat"})]
    together = DDPMGenerator(DDPMParams(**params, batch_size=2))
    together._load()
    pair = together._generate_batch(items, [torch.Generator().manual_seed(s) for s in (7, 8)])
    alone = DDPMGenerator(DDPMParams(**params, batch_size=1))
    alone._load()
    single = alone._generate_batch(items[1:], [torch.Generator().manual_seed(8)])
    difference = torch.tensor(list(pair[1].getdata())) - torch.tensor(list(single[0].getdata()))
    assert difference.abs().max().item() <= 1  # equal up to a rounding flip at a pixel's .5 boundary


def test_unknown_class_is_named(conditional_checkpoint):
    generator = DDPMGenerator(DDPMParams(model=str(conditional_checkpoint), device="cpu"))
    generator._load()
    with pytest.raises(DiffauditError, match=r"class='horse' is not a class of the model \(cat, dog\)"):
        generator.class_label(_item({"class": "horse"}))
    assert generator.class_label(_item({"class": "1"})) == 1
    with pytest.raises(DiffauditError, match="class=2 is not a class"):
        generator.class_label(_item({"class": 2}))


def test_unconditional_diffusers_unet_refuses_a_class(tiny_unet2d, tmp_path):
    tiny_unet2d.save_pretrained(tmp_path / "unet-only")
    generator = DDPMGenerator(DDPMParams(model=str(tmp_path / "unet-only"), device="cpu", steps=2))
    generator._load()
    assert generator.record_meta()["model_format"] == "diffusers"
    assert len(generator._generate_batch([_item({})], [torch.Generator().manual_seed(0)])) == 1
    with pytest.raises(DiffauditError, match="is unconditional"):
        generator._generate_batch([_item({"class": 3})], [torch.Generator().manual_seed(0)])


def test_missing_model_is_a_model_not_found_error():
    generator = DDPMGenerator(DDPMParams(model="google/ddpm-cifar10-32-not-here", device="cpu"))
    with pytest.raises(ModelNotFoundError, match="is not on disk and could not be downloaded"):
        generator._load()
    with pytest.raises(DiffauditError, match="generator.model"):
        DDPMGenerator(DDPMParams(device="cpu"))._load()


def test_run_config_declares_a_ddpm_generator(write_config, conditional_checkpoint):
    from audit.config import load_config
    from audit.core.errors import ConfigError

    good = write_config(
        f'name: d\ngenerator:\n  type: ddpm\n  model: "{conditional_checkpoint}"\n  sampler: dpm_solver++\n  steps: 20\n  guidance: 2.5\nprobes:\n  - suite: demo\n    seeds: 1\n'
    )
    params = load_config(good).generator.params
    assert isinstance(params, DDPMParams) and (params.sampler, params.steps, params.guidance) == (
        "dpm_solver++",
        20,
        2.5,
    )
    bad = write_config(
        "name: d\ngenerator:\n  type: ddpm\n  sampler: euler\nprobes:\n  - suite: demo\n    seeds: 1\n", "bad.yaml"
    )
    with pytest.raises(ConfigError, match=r"bad.yaml: generator.sampler: .*'euler'"):
        load_config(bad)


def test_seed_with_prompt_gives_two_prompts_of_one_class_their_own_images(conditional_checkpoint, tmp_path):
    def prompt(text: str) -> ProbeItem:
        return ProbeItem(item_id=stable_hash(text), suite="ddpm", prompt=text, attributes={"class": "cat"})

    items = [prompt("a photo of a cat"), prompt("a portrait of a cat")]
    shas = {}
    for with_prompt in (False, True):
        params = DDPMParams(
            model=str(conditional_checkpoint), steps=2, device="cpu", batch_size=2, seed_with_prompt=with_prompt
        )
        with RunStore.create(tmp_path / f"run-{with_prompt}", config={}) as store:
            records = DDPMGenerator(params).generate(items, [0], store)
        shas[with_prompt] = [r.sha256 for r in records]
    assert shas[False][0] == shas[False][1]  # one class, one seed: the same image, whatever the wording
    assert shas[True][0] != shas[True][1]


def test_an_item_of_no_class_of_the_model_stops_the_run_before_any_image(conditional_checkpoint, tmp_path):
    items = [_item({"class": "cat"}), _item({"class": "horse"})]
    generator = DDPMGenerator(DDPMParams(model=str(conditional_checkpoint), steps=2, device="cpu", batch_size=1))
    with RunStore.create(tmp_path / "run", config={}) as store:
        with pytest.raises(DiffauditError, match=r"class='horse' is not a class of the model \(cat, dog\)"):
            generator.generate(items, [0], store)
        assert store.done_pairs() == set()


def test_the_shipped_sandbox_ddpm_is_a_builtin_model_with_the_sandbox_occupations():
    from generators.sandbox import occupations

    generator = DDPMGenerator(DDPMParams(model="builtin:sandbox-ddpm", device="cpu", class_attribute="occupation"))
    generator._load()
    assert generator.class_names == occupations()
    assert generator.denoiser.sample_shape == (3, 32, 32)
    with pytest.raises(DiffauditError, match="unknown built-in model 'builtin:nope'"):
        DDPMGenerator(DDPMParams(model="builtin:nope", device="cpu"))._load()


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm_solver++"])
def test_timestep_spacing_chooses_where_sampling_starts(conditional_checkpoint, sampler):
    first = {}
    for spacing in (None, "trailing"):
        params = DDPMParams(model=str(conditional_checkpoint), sampler=sampler, device="cpu", timestep_spacing=spacing)
        generator = DDPMGenerator(params)
        generator._load()
        generator.scheduler.set_timesteps(10)
        first[spacing] = int(generator.scheduler.timesteps[0])
    assert first["trailing"] == 999  # the last training timestep: pure noise
    assert first[None] == {"ddpm": 900, "ddim": 900, "dpm_solver++": 999}[sampler]  # diffusers' defaults
