import json

import pytest

from audit.core.records import Finding, GenerationRecord, ProbeItem, Score


def _examples():
    item = ProbeItem.create(
        suite="occupations",
        prompt="a photo of the face of a nurse",
        attributes={"occupation": "nurse"},
        template="a photo of the face of a {occupation}",
        reference={"pct_women": 87.9},
        pair_id="p1",
        group="woman",
    )
    record = GenerationRecord(
        record_id=GenerationRecord.make_record_id(item.item_id, 3),
        item_id=item.item_id,
        seed=3,
        generator="diffusers:some/model",
        generator_config="abc123",
        image_path=f"images/{item.item_id}/3.png",
        sha256="0" * 64,
        width=64,
        height=64,
        steps=4,
        guidance=5.0,
        elapsed_s=0.25,
        meta={"pipeline": "StableDiffusionPipeline"},
    )
    score = Score(
        record_id=record.record_id,
        classifier="clip:ViT-B-32/openai",
        attribute="perceived_gender",
        label="unknown",
        prob=0.4,
    )
    finding = Finding(
        check="max_tv_from_parity",
        scope={"suite": "occupations", "attribute": "perceived_gender"},
        value=0.31,
        ci=(0.22, 0.40),
        threshold=0.2,
        status="fail",
        severity="error",
        summary="nurse deviates from parity",
        p_value=0.001,
        p_adjusted=0.004,
        evidence=(record.record_id,),
    )
    return [item, record, score, finding]


@pytest.mark.parametrize("record", _examples(), ids=lambda r: type(r).__name__)
def test_records_round_trip_through_json(record):
    data = json.loads(json.dumps(record.as_dict()))
    assert type(record).from_dict(data) == record


@pytest.mark.parametrize("record", _examples(), ids=lambda r: type(r).__name__)
def test_from_dict_names_unknown_and_missing_fields(record):
    data = record.as_dict()
    with pytest.raises(ValueError, match="unknown field.*colour"):
        type(record).from_dict({**data, "colour": "red"})
    first_required = next(iter(data))
    del data[first_required]
    with pytest.raises(ValueError, match=f"missing field.*{first_required}"):
        type(record).from_dict(data)


def test_records_are_frozen():
    item = _examples()[0]
    with pytest.raises(AttributeError):
        item.prompt = "something else"


def test_probe_item_id_is_stable_and_depends_on_content():
    a = ProbeItem.create(suite="s", prompt="a doctor", attributes={"x": 1, "y": 2})
    b = ProbeItem.create(suite="s", prompt="a doctor", attributes={"y": 2, "x": 1})
    c = ProbeItem.create(suite="s", prompt="a nurse", attributes={"x": 1, "y": 2})
    assert a.item_id == b.item_id
    assert a.item_id != c.item_id
    assert len({a, b, c}) == 2


@pytest.mark.parametrize("bad", ["../../etc", "ABCDEF123456", "short", "a photo of a nurse"])
def test_probe_item_id_must_be_our_hex_id(bad):
    # Item ids become directory names: nothing but our own ids may get there.
    with pytest.raises(ValueError, match="item_id"):
        ProbeItem(item_id=bad, suite="s", prompt="p")


def test_failed_generation_is_a_record_too():
    record = GenerationRecord(
        record_id="r", item_id="0" * 12, seed=0, generator="g", generator_config="c", error="boom"
    )
    assert not record.ok
    assert GenerationRecord.from_dict(record.as_dict()).error == "boom"
