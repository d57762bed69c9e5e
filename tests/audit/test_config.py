import pytest

from audit.config import load_config
from audit.core.errors import ConfigError

GOOD = """\
name: t
generator:
  type: diffusers
  model: some/model
  steps: 10
probes:
  - suite: demo
    seeds: [0, 5]
"""


def test_builtin_default_is_the_sandbox_audit_on_shipped_models():
    config = load_config()
    assert config.generator.type == "ddpm"
    assert config.generator.params.model == "builtin:sandbox-ddpm"
    assert config.generator.params.class_attribute == "occupation"
    assert [p.suite for p in config.probes] == ["sandbox"]
    assert [(c.type, c.params.get("model")) for c in config.classifiers] == [
        ("clip", "builtin:sandbox-clip"),
        ("skin_tone", None),
    ]
    assert config.policy == "sandbox"


def test_the_high_guidance_config_is_the_default_audit_at_a_higher_guidance():
    default, high = load_config(), load_config("sandbox-high-guidance")
    assert high.source == "(built-in config sandbox-high-guidance)"
    assert high.generator.params.guidance > default.generator.params.guidance
    assert high.name != default.name
    same = ("probes", "classifiers", "policy")
    assert {k: high.as_dict()[k] for k in same} == {k: default.as_dict()[k] for k in same}
    assert {**high.as_dict()["generator"], "guidance": None} == {**default.as_dict()["generator"], "guidance": None}


def test_resolved_config_fills_generator_defaults(write_config):
    config = load_config(write_config(GOOD))
    resolved = config.as_dict()
    assert resolved["generator"]["steps"] == 10
    assert resolved["generator"]["guidance"] == 7.5  # the declared default
    assert resolved["probes"] == [{"suite": "demo", "seeds": [0, 5], "screening": None, "seed_blocks": "shared"}]
    assert resolved["executor"] == "local"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD + "colour: blue\n", r"unknown key 'colour' \(value 'blue'\)"),
        (GOOD.replace("steps: 10", "stepz: 10"), r"unknown key 'generator.stepz' \(value 10\)"),
        (GOOD.replace("steps: 10", "steps: ten"), r"generator.steps: expected an integer, got 'ten'"),
        (GOOD.replace("steps: 10", "steps: 0"), r"generator: steps must be at least 1, got 0"),
        (GOOD.replace("seeds: [0, 5]", "seeds: many"), r"probes\[0\].seeds: expected an integer or a list"),
        (GOOD.replace("    seeds: [0, 5]\n", "    seeds: [0, 5]\n    sead: 1\n"), r"unknown key 'probes\[0\].sead'"),
        (GOOD.replace("name: t\n", ""), r"missing required key 'name'"),
        (GOOD.replace("type: diffusers", "type: dall-e"), r"generator.type: unknown generator type 'dall-e'"),
        (GOOD + "executor: slurm\n", r"executor: expected one of 'local', 'ray', got 'slurm'"),
        (GOOD + "probes: []\n", r"probes: at least one suite"),
        ("name: [unclosed\n", r"invalid YAML at line 2"),
        ("", r"the file is empty"),
    ],
)
def test_bad_configs_fail_naming_file_key_and_value(write_config, text, expected):
    path = write_config(text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "\n" not in message


def test_missing_config_file_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("blocks", ["per_template", "per_prompt"])
def test_seed_blocks_give_templates_or_prompts_their_own_seeds_and_keep_pairs_paired(write_config, blocks):
    """Shared seeds link images across prompts; blocks of seeds make them independent (pairs stay paired)."""
    from audit.runner import expand_probes

    config = load_config(
        write_config(
            f"name: b\ngenerator: {{type: folder, manifest: m.csv}}\n"
            f"probes: [{{suite: counterfactual, seeds: 3, seed_blocks: {blocks}}}]\n"
        )
    )
    items, seeds = expand_probes(config)
    assert seeds == {"counterfactual": [0, 1, 2]}
    by_template: dict = {}
    for item in items:
        assert len(item.seeds) == 3 and item.seeds[0] % 3 == 0
        by_template.setdefault(item.template, set()).add(item.seeds)
    if blocks == "per_template":
        assert all(len(s) == 1 for s in by_template.values())  # one block per template ...
        assert len({next(iter(s)) for s in by_template.values()}) == len(by_template)  # ... each its own
    pairs: dict = {}
    for item in items:
        if item.pair_id:
            pairs.setdefault(item.pair_id, set()).add(item.seeds)
    assert pairs and all(len(s) == 1 for s in pairs.values())  # both images of a pair share their seeds
    if blocks == "per_prompt":
        assert len({next(iter(s)) for s in pairs.values()}) == len(pairs)  # no two pairs share a seed
