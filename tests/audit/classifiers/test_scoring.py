import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.classifiers import (
    ABSTAIN_CAP,
    ClipClassifier,
    ClipParams,
    ImageResult,
    SkinToneClassifier,
    make_classifier,
    score_run,
)
from audit.core.constants import UNKNOWN
from audit.core.errors import ConfigError
from audit.core.records import GenerationRecord, stable_hash
from audit.core.run_store import RunStore
from tests.audit.classifiers.conftest import TINY

CONFIG = {
    "name": "scoring-test",
    "generator": {"type": "diffusers", "model": "builtin:tiny-sd"},
    "probes": [{"suite": "demo"}],
    "classifiers": [{"type": "clip", "model": TINY, "pretrained": None}, {"type": "skin_tone"}],
}


def add_images(store, images, start=0):
    for i, image in enumerate(images, start):
        item_id = stable_hash({"image": i})
        record = GenerationRecord(
            record_id=GenerationRecord.make_record_id(item_id, 0),
            item_id=item_id,
            seed=0,
            generator="test",
            generator_config="none",
        )
        store.save_generation(record, image)


@pytest.fixture
def run(tmp_path, random_images, grace_hopper):
    from audit.config import config_from_dict

    config = config_from_dict(CONFIG, source="test.yaml")
    store = RunStore.create(tmp_path / "run", config=config.as_dict())
    add_images(store, [Image.open(grace_hopper).convert("RGB"), *random_images(4)])
    yield store
    store.close()


def classifiers():
    return [ClipClassifier(ClipParams(model=TINY, pretrained=None)), SkinToneClassifier()]


def test_scores_are_long_format_with_one_row_per_label_and_unknown(run):
    counts = score_run(run, classifiers(), batch_size=2)
    assert counts == {"scored": 5, "skipped": 0, "total": 5}
    scores = pd.read_parquet(run.root / "scores.parquet")
    assert list(scores.columns) == ["record_id", "classifier", "attribute", "label", "prob"]
    per_image = scores.groupby("record_id").size()
    assert len(per_image) == 5
    clip = scores[scores["classifier"] == f"clip:{TINY}/random"]
    gender = clip[clip["attribute"] == "perceived_gender_presentation"]
    assert gender.groupby("record_id")["label"].apply(sorted).map(tuple).unique().tolist() == [
        ("feminine", "masculine", UNKNOWN)
    ]
    # Class probabilities of an attribute sum to 1 (unknown is the separate abstention flag).
    sums = clip[clip["label"] != UNKNOWN].groupby(["record_id", "attribute"])["prob"].sum()
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)
    skin = scores[scores["classifier"] == SkinToneClassifier().classifier_id]
    assert set(skin["attribute"]) == {"face_detected", "ita_category", "monk_skin_tone"}
    hopper = skin[skin["record_id"] == sorted(run.done_pairs())[0][0] + "-0"]
    measurements = pd.read_parquet(run.root / "measurements.parquet")
    assert list(measurements.columns) == ["record_id", "classifier", "measurement", "value"]
    assert measurements[measurements["measurement"] == "face_count"]["value"].sum() == 1  # only Grace Hopper
    assert len(hopper) in (0, 3)


def test_scoring_records_classifier_versions(run):
    score_run(run, classifiers(), batch_size=4)
    info = json.loads((run.root / "scoring.json").read_text())
    entry = info["classifiers"][f"clip:{TINY}/random"]
    assert entry["params"]["model"] == TINY and entry["libraries"]["open_clip_torch"]
    assert entry["label_set"]["name"] == "default" and entry["weights_fingerprint"]
    assert SkinToneClassifier().classifier_id in info["classifiers"]


def test_scoring_resumes_and_skips_scored_images(run, random_images):
    score_run(run, classifiers(), batch_size=2)
    before = pd.read_parquet(run.root / "scores.parquet")
    again = score_run(run, classifiers(), batch_size=2)
    assert again == {"scored": 0, "skipped": 5, "total": 5}
    pd.testing.assert_frame_equal(pd.read_parquet(run.root / "scores.parquet"), before)

    add_images(run, random_images(2, seed=9), start=100)
    more = score_run(run, classifiers(), batch_size=2)
    assert more == {"scored": 2, "skipped": 5, "total": 7}
    after = pd.read_parquet(run.root / "scores.parquet")
    assert after["record_id"].nunique() == 7
    assert not after.duplicated(["record_id", "classifier", "attribute", "label"]).any()
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before)


def test_an_interrupted_scoring_keeps_what_it_flushed(run, monkeypatch):
    clip = ClipClassifier(ClipParams(model=TINY, pretrained=None))
    original = clip.predict
    calls = []

    def failing(prepared):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(prepared)

    clip.predict = failing
    with pytest.raises(KeyboardInterrupt):
        score_run(run, [clip], batch_size=2, flush_every=2)
    assert pd.read_parquet(run.root / "scores.parquet")["record_id"].nunique() == 2
    clip.predict = original
    assert score_run(run, [clip], batch_size=2) == {"scored": 3, "skipped": 2, "total": 5}


def test_batch_size_does_not_change_scores(run, tmp_path):
    score_run(run, classifiers(), batch_size=5)
    big = pd.read_parquet(run.root / "scores.parquet")
    (run.root / "scores.parquet").unlink()
    score_run(run, classifiers(), batch_size=1)
    small = pd.read_parquet(run.root / "scores.parquet")
    key = ["record_id", "classifier", "attribute", "label"]
    merged = big.merge(small, on=key, suffixes=("_big", "_small"))
    assert len(merged) == len(big) == len(small)
    np.testing.assert_allclose(merged["prob_big"], merged["prob_small"], atol=1e-5)


def test_failed_images_are_not_scored(run):
    item_id = stable_hash({"failed": True})
    run.save_generation(
        GenerationRecord(
            record_id=GenerationRecord.make_record_id(item_id, 0),
            item_id=item_id,
            seed=0,
            generator="test",
            generator_config="none",
            error="boom",
        )
    )
    assert score_run(run, [SkinToneClassifier()])["total"] == 5


def test_an_abstention_never_ties_with_a_certain_class():
    result = ImageResult()
    result.add_distribution("a", {"x": 1.0, "y": 0.0}, abstain=True)
    probs = {label: p for _, label, p in result.labels}
    assert probs[UNKNOWN] == 1.0 and probs["x"] == ABSTAIN_CAP < 1.0


def test_bad_classifier_entries_name_the_source_and_key():
    with pytest.raises(ConfigError, match=r"run\.yaml: classifiers\[1\]\.type: unknown classifier type 'clipp'"):
        make_classifier("clipp", {}, source="run.yaml", key="classifiers[1]")
    with pytest.raises(ConfigError, match=r"run\.yaml: unknown key 'classifiers\[0\]\.modle'"):
        make_classifier("clip", {"modle": "x"}, source="run.yaml", key="classifiers[0]")
    with pytest.raises(ConfigError, match=r"classifiers\[0\]\.min_neighbors"):
        make_classifier("skin_tone", {"min_neighbors": "five"}, source="run.yaml", key="classifiers[0]")


def test_cli_score_writes_scores_and_resumes(run):
    from typer.testing import CliRunner

    from audit.cli import app

    run.close()
    cli = CliRunner()
    first = cli.invoke(app, ["score", str(run.root), "--device", "cpu", "--batch-size", "3", "-q"])
    assert first.exit_code == 0, first.output
    assert f"scores: {run.root / 'scores.parquet'}" in first.stdout
    scores = pd.read_parquet(run.root / "scores.parquet")
    assert scores["record_id"].nunique() == 5 and scores["classifier"].nunique() == 2
    second = cli.invoke(app, ["score", str(run.root), "--device", "cpu"])
    assert second.exit_code == 0
    assert "0 scored, 5 already scored" in second.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(run.root / "scores.parquet"), scores)


def test_clip_embeddings_are_kept_for_diversity_statistics(run, random_images):
    score_run(run, classifiers(), batch_size=2)
    embeddings = pd.read_parquet(run.root / "embeddings.parquet")
    assert list(embeddings.columns) == ["record_id", "classifier", "embedding"]
    assert set(embeddings["classifier"]) == {f"clip:{TINY}/random"}  # skin tone has no embedding
    assert embeddings["record_id"].nunique() == 5 and len(embeddings) == 5
    vectors = np.stack(embeddings["embedding"].to_numpy())
    assert vectors.shape == (5, 32)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    add_images(run, random_images(1, seed=4), start=50)
    score_run(run, classifiers(), batch_size=2)
    assert len(pd.read_parquet(run.root / "embeddings.parquet")) == 6
