"""The sandbox world: its planted bias table, the suite that carries it, and the renderer."""

import csv
from importlib import resources

import numpy as np
import pytest

from audit.core.errors import DiffauditError
from audit.core.run_store import RunStore
from generators.sandbox import (
    ATTRIBUTES,
    MONK_LEVELS,
    SandboxGenerator,
    SandboxParams,
    balanced_bias,
    draw_portrait,
    occupations,
    planted_bias,
    render,
    skewed_occupations,
)
from probes import load_suite


def test_planted_table_has_balanced_and_strongly_skewed_occupations():
    table = planted_bias()
    assert 8 <= len(table) <= 12
    for shares in table.values():
        for attribute, labels in ATTRIBUTES.items():
            assert set(shares[attribute]) == set(labels)
            assert sum(shares[attribute].values()) == pytest.approx(1.0)
    skewed = skewed_occupations()
    balanced = set(table) - set(skewed)
    assert len(balanced) >= 3 and len(skewed) >= 4
    for name, attributes in skewed.items():
        for attribute in attributes:
            # Strong on purpose: at least 0.3 TV from parity, so an audit of 40 images sees it.
            shares = np.array(list(table[name][attribute].values()))
            assert 0.5 * np.abs(shares - 1 / len(shares)).sum() >= 0.3, (name, attribute)


def test_the_sandbox_suite_carries_the_planted_table_as_its_reference():
    items = load_suite("sandbox").expand()
    table = planted_bias()
    assert {i.attributes["occupation"] for i in items} == set(occupations())
    assert len({i.template for i in items}) >= 2
    for item in items:
        for attribute, shares in table[item.attributes["occupation"]].items():
            given = item.reference[attribute]
            total = sum(given.values())
            assert {k: v / total for k, v in given.items()} == pytest.approx(shares)
    # ...and the figures are the CSV's own, as published.
    rows = csv.DictReader(
        (resources.files("generators.sandbox") / "planted_bias.csv").read_text(encoding="utf-8").splitlines()
    )
    nurse = next(r for r in rows if r["occupation"] == "nurse")
    item = next(i for i in items if i.attributes["occupation"] == "nurse")
    assert item.reference["marker"] == {"amber": float(nurse["marker_amber"]), "violet": float(nurse["marker_violet"])}


def test_portraits_follow_their_table_and_the_monk_level_lies_in_its_group():
    rng = np.random.default_rng(0)
    drawn = [draw_portrait("judge", rng) for _ in range(2000)]
    older = np.mean([p.age_cue == "older" for p in drawn])
    light = np.mean([p.skin_tone_group == "light" for p in drawn])
    assert older == pytest.approx(0.9, abs=0.03) and light == pytest.approx(0.8, abs=0.03)
    assert all(p.monk_level in MONK_LEVELS[p.skin_tone_group] for p in drawn)
    even = [draw_portrait("judge", rng, balanced_bias()) for _ in range(2000)]
    assert np.mean([p.age_cue == "older" for p in even]) == pytest.approx(0.5, abs=0.04)


def test_rendering_is_deterministic_and_shows_the_monk_colour_on_the_face():
    portrait = draw_portrait("nurse", np.random.default_rng(3))
    a = np.asarray(render(portrait, noise_seed=1))
    b = np.asarray(render(portrait, noise_seed=1))
    assert a.shape == (32, 32, 3) and a.dtype == np.uint8 and (a == b).all()
    assert not (np.asarray(render(portrait, noise_seed=2)) == a).all()


def test_the_renderer_as_a_generator_records_the_truth_and_refuses_an_unknown_occupation(tmp_path):
    items = [i for i in load_suite("sandbox").expand() if i.attributes["occupation"] in ("doctor", "judge")]
    with RunStore.create(tmp_path / "run", config={}) as store:
        records = SandboxGenerator(SandboxParams()).generate(items, [0, 1], store)
        assert len(records) == 8 and all(r.ok for r in records)
        for record in records:
            item = next(i for i in items if i.item_id == record.item_id)
            assert record.meta["truth"]["occupation"] == item.attributes["occupation"]
            assert set(record.meta["truth"]) >= {"skin_tone_group", "monk_level", "age_cue", "marker"}
        # Two templates of one occupation with the same seed are two different portraits.
        doctor = {i.item_id for i in items if i.attributes["occupation"] == "doctor"}
        same_seed = [r.sha256 for r in records if r.seed == 0 and r.item_id in doctor]
        assert len(same_seed) == 2 and same_seed[0] != same_seed[1]

    pilot = load_suite("demo").expand()[0]
    pilot = type(pilot).create(suite="mine", prompt="a photo of a pilot", attributes={"occupation": "pilot"})
    with RunStore.create(tmp_path / "bad", config={}) as store:
        with pytest.raises(DiffauditError, match=r"occupation='pilot' is not a sandbox occupation \(doctor, nurse"):
            SandboxGenerator(SandboxParams()).generate([pilot], [0], store)
        assert store.done_pairs() == set()  # stopped before any image
