"""The mitigation block: validated against the generator, recorded in run.yaml, applied image by image."""

from __future__ import annotations

import collections

import pytest

from audit.config import load_config
from audit.core.errors import ConfigError
from audit.core.records import ProbeItem
from generators.mitigation import Mitigation, PromptRewrite

DIFFUSERS = 'name: m\ngenerator: {type: diffusers, model: "builtin:tiny-sd", steps: 2, guidance: 5.0}\nprobes: [{suite: demo, seeds: 2}]\n'


def test_a_mitigation_is_validated_and_recorded_with_the_run(write_config):
    config = load_config(
        write_config(
            DIFFUSERS
            + "mitigation:\n  description: ask for a skin tone\n  guidance: 2.0\n"
            + "  rewrite: {descriptors: {'with deep skin': 1, 'with light skin': 3}}\n"
        )
    )
    assert config.generator.params.guidance == 5.0  # the config as written ...
    assert config.generator_params().guidance == 2.0  # ... and what the generator runs with
    recorded = config.as_dict()["mitigation"]
    assert recorded["guidance"] == 2.0 and recorded["rewrite"]["descriptors"] == {
        "with deep skin": 1,
        "with light skin": 3,
    }
    assert "mitigation" not in load_config(write_config(DIFFUSERS, "plain.yaml")).as_dict()  # absent, not null


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{}", "mitigation: give at least one of rewrite"),
        ("{rewrite: {descriptors: {a: 1}, template: '{prompt} only'}}", "rewrite.template"),
        ("{rewrite: {descriptors: {a: -1}}}", "non-negative"),
        ("{bogus: 1}", "unknown key 'mitigation.bogus'"),
        ("{pipeline: NoSuchPipeline, guidance: -1}", "guidance: must be non-negative"),
    ],
)
def test_a_bad_mitigation_is_one_line_naming_the_key(write_config, block, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(write_config(DIFFUSERS + f"mitigation: {block}\n"))
    assert "\n" not in str(info.value)


def test_prompt_rewriting_is_refused_for_a_generator_that_reads_no_prompt(write_config, tmp_path):
    from generators.ddpm_generator import DDPMGenerator

    model = DDPMGenerator.example_params(tmp_path).model
    text = f'name: m\ngenerator: {{type: ddpm, model: "{model}", steps: 2}}\nprobes: [{{suite: demo, seeds: 2}}]\n'
    with pytest.raises(ConfigError, match=r"mitigation.rewrite: generator type 'ddpm' does not read prompts"):
        load_config(write_config(text + "mitigation: {rewrite: {descriptors: {x: 1}}}\n"))
    # A changed guidance scale is what a class-conditional model can take.
    assert (
        load_config(write_config(text + "mitigation: {guidance: 0.5}\n", "g.yaml")).generator_params().guidance == 0.5
    )


def test_descriptors_follow_their_shares_and_depend_on_the_image_alone():
    rewrite = PromptRewrite(descriptors={"with deep skin": 1, "with light skin": 3}, seed=7)
    mitigation = Mitigation(rewrite=rewrite, negative_prompt="blurry")
    item = ProbeItem.create(suite="s", prompt="a photo of a nurse")
    drawn = collections.Counter(rewrite.descriptor_for(item.item_id, seed) for seed in range(4000))
    assert drawn["with light skin"] / 4000 == pytest.approx(0.75, abs=0.03)
    pairs = [(item, seed) for seed in range(6)]
    changed = mitigation.apply_pairs(pairs)
    # Same ids and seeds (the pairing with the baseline); prompts rewritten; the same image always the same prompt.
    assert [(i.item_id, s) for i, s in changed] == [(item.item_id, s) for s in range(6)]
    assert all(i.prompt.startswith("a photo of a nurse, with ") and i.negative_prompt == "blurry" for i, _ in changed)
    assert [i.prompt for i, _ in mitigation.apply_pairs(pairs[::-1])][::-1] == [i.prompt for i, _ in changed]


def test_a_mitigated_run_makes_the_rewritten_images_and_keeps_the_pairing(write_config, tiny_sd_path, tmp_path):
    from audit import runner

    base = f'name: b\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2, batch_size: 2}}\nprobes: [{{suite: demo, seeds: 2}}]\n'
    mitigated = base.replace("name: b", "name: m") + "mitigation: {rewrite: {descriptors: {'in a red hat': 1}}}\n"
    records = {}
    for name, text in (("b", base), ("m", mitigated)):
        with runner.prepare(load_config(write_config(text, f"{name}.yaml")), tmp_path / name) as store:
            runner.generate(store)
            records[name] = {(r.item_id, r.seed): r.sha256 for r in store.generations()}
    assert records["b"].keys() == records["m"].keys()  # the same (prompt, seed) pairs
    assert all(records["b"][k] != records["m"][k] for k in records["b"])  # the rewritten prompt changed each image


def test_a_mitigation_can_swap_in_the_safe_latent_diffusion_pipeline(write_config, tiny_sd_path, tmp_path):
    """The same checkpoint loaded as diffusers' StableDiffusionPipelineSafe; its images are recorded as made by it."""
    from audit import runner

    text = (
        f'name: sld\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2, batch_size: 2}}\n'
        "probes: [{suite: demo, seeds: 1}]\nmitigation: {pipeline: StableDiffusionPipelineSafe}\n"
    )
    with runner.prepare(load_config(write_config(text)), tmp_path / "sld") as store:
        runner.generate(store)
        records = store.generations()
    assert records and all(r.ok and r.meta["pipeline"] == "StableDiffusionPipelineSafe" for r in records)


def test_an_unknown_pipeline_class_is_one_line(write_config, tiny_sd_path, tmp_path):
    from audit import runner
    from audit.core.errors import DiffauditError

    text = (
        f'name: x\ngenerator: {{type: diffusers, model: "{tiny_sd_path}", steps: 2}}\n'
        "probes: [{suite: demo, seeds: 1}]\nmitigation: {pipeline: NoSuchPipeline}\n"
    )
    with runner.prepare(load_config(write_config(text)), tmp_path / "x") as store:
        with pytest.raises(DiffauditError, match="has no pipeline class 'NoSuchPipeline'"):
            runner.generate(store)


def test_the_shipped_mitigated_config_is_the_default_audit_with_a_guidance_mitigation():
    from audit.config import load_config

    default, mitigated = load_config(), load_config("sandbox-mitigated")
    assert mitigated.name != default.name
    assert mitigated.mitigation is not None and mitigated.mitigation.guidance == 0.5
    assert mitigated.generator_params().guidance == 0.5
    same = ("generator", "probes", "classifiers", "policy")
    assert {k: mitigated.as_dict()[k] for k in same} == {k: default.as_dict()[k] for k in same}
