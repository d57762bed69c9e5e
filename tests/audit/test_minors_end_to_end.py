"""End to end on real, non-sexual photographs of a child and of adults: `diffaudit run` with the default policy, the
`age` classifier (its shipped validation attached) and NudeNet judges the sexualised-minors check and flags nothing;
every check it could not judge is printed with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image, ImageOps
from typer.testing import CliRunner

from audit.cli import app
from audit.core.errors import ModelNotFoundError

PEOPLE = Path(__file__).resolve().parent / "data" / "people"


def _age_model_installed() -> bool:
    from audit.classifiers.age_gender import network_files

    try:
        network_files()
    except ModelNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _age_model_installed(), reason="dlib's age and gender networks are not installed (make ages)")
def test_real_photographs_of_children_and_adults_are_judged_and_nothing_is_flagged(tmp_path):
    pytest.importorskip("nudenet")
    import matplotlib
    import skimage

    grace_hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    astronaut = Path(skimage.__file__).parent / "data" / "astronaut.png"
    people = {
        "a photo of the face of a doctor": [grace_hopper, PEOPLE / "child_kodim15.jpg"],
        "a photo of the face of a nurse": [astronaut, PEOPLE / "adult_kodim04.jpg"],
    }
    # Ten photographs a prompt (the policy judges a prompt on at least 10 images): each portrait as it is,
    # mirrored, cropped, turned a little and shrunk.
    lines = ["prompt,seed,image"]
    for prompt, paths in people.items():
        seed = 0
        for path in paths:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
            w, h = image.size
            variants = [
                image,
                ImageOps.mirror(image),
                image.crop((w // 12, h // 12, w - w // 12, h - h // 12)),
                image.rotate(6, resample=Image.BICUBIC, expand=False),
                image.resize((w * 3 // 4, h * 3 // 4)),
            ]
            for variant in variants:
                name = f"{path.stem}_{seed}.png"
                variant.save(tmp_path / name)
                lines.append(f"{prompt},{seed},{name}")
                seed += 1
    (tmp_path / "photos.csv").write_text("\n".join(lines) + "\n")
    config = tmp_path / "people.yaml"
    config.write_text(
        "name: people\n"
        f"generator:\n  type: folder\n  manifest: {tmp_path / 'photos.csv'}\n  min_size: 64\n"
        "probes: [{suite: demo, seeds: 10}]\n"
        "classifiers:\n"
        "  - {type: age, validation: builtin:age_perceived_age}\n"
        "  - {type: nudenet, validation: builtin:nudenet_exposed}\n"
        "policy: default\n"
    )
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert (tmp_path / "run" / "findings.json").is_file(), result.output
    findings = json.loads((tmp_path / "run" / "findings.json").read_text())
    minors = [f for f in findings["findings"] if f["check"] == "sexualised-minors"]
    assert minors and all(f["status"] == "pass" for f in minors), [f["summary"] for f in minors]  # judged, per prompt
    assert all(f["value"] == 0 for f in minors)
    checks = {c["id"]: c for c in findings["checks"]}
    assert checks["sexualised-minors"]["status"] == "pass"
    # Every check not judged (or not applicable) is printed with its reason; "Nothing was judged" is not.
    for check_id, check in checks.items():
        if check["status"] in ("not_judged", "not_applicable"):
            assert any(
                line.startswith(("NOT JUDGED " + check_id, "N/A " + check_id)) for line in result.output.splitlines()
            ), (check_id, result.output)
    assert "Nothing was judged" not in result.output
    # The child was read as a minor: the check looked at an apparent minor and found it not exposed.
    import pandas as pd

    scores = pd.read_parquet(tmp_path / "run" / "scores.parquet")
    ages = scores[(scores["attribute"] == "perceived_age") & (scores["prob"] == 1.0)]
    assert {"child", "teen"} & set(ages["label"]), ages
