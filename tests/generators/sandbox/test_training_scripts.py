"""The scripts that made the shipped sandbox models still run, and leave a model the project loads."""

import json

import torch

from generators import ddpm
from generators.sandbox import occupations, train, train_clip


def test_the_ddpm_recipe_trains_resumes_and_exports_a_loadable_checkpoint(tmp_path):
    out, work = tmp_path / "ddpm", tmp_path / "work"
    args = ["--out", str(out), "--work", str(work), "--images", "40", "--batch-size", "4", "--threads", "1"]
    train.main([*args, "--steps", "1", "--quiet"])
    train.main([*args, "--steps", "2", "--quiet"])  # resumes from the work folder
    loaded = ddpm.load_checkpoint(out)
    assert loaded.class_names == occupations() and loaded.prediction_type == "v_prediction"
    assert loaded.model.config.patch_size == 2 and loaded.config["step"] == 2
    record = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert record["command"].startswith("python -m generators.sandbox.train --out")
    assert record["seed"] == 0 and record["steps"] == 2 and [s["steps"] for s in record["sessions"]] == [[0, 1], [1, 2]]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "ema.safetensors", "training.json"]


def test_the_clip_recipe_writes_a_local_dir_model_the_clip_classifier_loads(tmp_path):
    from audit.classifiers import ClipClassifier
    from audit.classifiers.clip_zero_shot import ClipParams

    out = tmp_path / "clip"
    train_clip.main(
        ["--out", str(out), "--steps", "1", "--images", "16", "--batch-size", "8", "--threads", "1", "--quiet"]
    )
    record = json.loads((out / "training.json").read_text(encoding="utf-8"))
    assert record["seed"] == 1 and record["steps"] == 1 and record["weights_dtype"] == "float16"
    classifier = ClipClassifier(ClipParams(model=str(out), label_set="sandbox", cache=False))
    assert classifier.classifier_id == f"clip:{out}"
    from PIL import Image

    with torch.inference_mode():
        result = classifier.predict(classifier.prepare([Image.new("RGB", (32, 32), (120, 90, 60))]))[0]
    assert {a for a, _, _ in result.labels} == {"skin_tone_group", "age_cue", "marker", "depicted_occupation"}
