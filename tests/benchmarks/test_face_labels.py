"""benchmarks.face_labels: the fit of the render calibration's cut points, and the manifest of eye labels."""

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.classifiers.validation import labelled_images as manifest_images
from benchmarks.face_labels import command_manifest, ordinal_cut_points


def test_ordinal_cut_points_recover_the_cut_points_of_a_simulated_ordinal_model():
    """Groups drawn from a known ordinal logistic model of the index give back its cut points."""
    rng = np.random.default_rng(7)
    index = rng.uniform(-10, 70, 4000)
    slope, cuts = -0.25, (30.0, 12.0)  # light above 30, dark below 12 (in index units)
    latent = slope * index + rng.logistic(size=index.size)
    groups = np.where(latent < slope * cuts[0], "light", np.where(latent < slope * cuts[1], "medium", "dark"))
    light_medium, medium_dark = ordinal_cut_points(index, groups)
    assert light_medium == pytest.approx(30.0, abs=1.0) and medium_dark == pytest.approx(12.0, abs=1.0)


def _run(tmp_path, seeds):
    run = tmp_path / "run"
    (run / "images" / "item").mkdir(parents=True)
    records = []
    for seed in seeds:
        path = f"images/item/{seed}.png"
        Image.new("RGB", (8, 8), (10 * seed, 100, 100)).save(run / path)
        records.append({"item_id": "item", "seed": seed, "image_path": path})
    (run / "generations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    rows = [
        (f"item-{s}", "skin_tone:yunet-render-v2", a, v, 1.0)
        for s in seeds
        for a, v in (("face_detected", "yes"), ("monk_group", "light"))
    ]
    pd.DataFrame(rows, columns=["record_id", "classifier", "attribute", "label", "prob"]).to_parquet(
        run / "scores.parquet"
    )
    return run


def test_the_manifest_holds_the_unchanged_grouped_images_and_validate_classifier_reads_it(tmp_path):
    run = _run(tmp_path, [1, 2, 3, 4])
    digest = {s: hashlib.sha256((run / f"images/item/{s}.png").read_bytes()).hexdigest() for s in (1, 2, 3, 4)}
    items = [
        {"item_id": "item", "seed": 1, "sha256": digest[1], "split": "test", "sample": 1, "label": "light"},
        {"item_id": "item", "seed": 2, "sha256": digest[2], "split": "test", "sample": 2, "label": "dark"},
        {"item_id": "item", "seed": 3, "sha256": "0" * 64, "split": "test", "sample": 2, "label": "medium"},  # changed
        {"item_id": "item", "seed": 4, "sha256": digest[4], "split": "test", "sample": 2, "label": "unsure"},
        {"item_id": "item", "seed": 5, "sha256": digest[4], "split": "fit", "sample": 2, "label": "light"},  # absent
    ]
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"items": items}))
    out = tmp_path / "manifest.csv"
    from argparse import Namespace

    command_manifest(Namespace(labels=labels, run=run, split="test", all=False, out=out))
    table = pd.read_csv(out)
    assert list(table["label"]) == ["light", "dark"] and list(table["group"]) == ["sample 1", "sample 2"]
    read = manifest_images(out)
    assert [(p.path.name, p.label, p.group) for p in read] == [
        ("1.png", "light", "sample 1"),
        ("2.png", "dark", "sample 2"),
    ]
    command_manifest(Namespace(labels=labels, run=run, split="test", all=True, out=out))
    assert list(pd.read_csv(out)["label"]) == ["light", "dark", "unsure"]  # unsure kept with --all, set aside later
