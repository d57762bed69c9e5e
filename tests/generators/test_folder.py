"""The folder generator: images made elsewhere, imported from a manifest."""

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from audit.core.errors import ConfigError
from audit.core.run_store import RunStore
from generators import FolderGenerator, FolderParams, read_manifest
from probes import load_suite

DOCTOR, NURSE = "a photo of the face of a doctor", "a photo of the face of a nurse"


def _picture(path, *, size=(80, 72), mode="RGB", fmt=None, value=0):
    pixels = np.random.default_rng(value).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).convert(mode).save(path, format=fmt)
    return path


def _import(manifest, tmp_path, seeds=(0, 1), **params):
    items = load_suite("demo").expand()
    with RunStore.create(tmp_path / "run", config={}) as store:
        records = FolderGenerator(FolderParams(manifest=str(manifest), **params)).generate(items, list(seeds), store)
    return items, {(r.item_id, r.seed): r for r in records}


def test_a_csv_manifest_of_png_and_jpeg_files_is_imported(tmp_path):
    _picture(tmp_path / "d0.png", value=1)
    _picture(tmp_path / "d1.jpg", fmt="JPEG", value=2)
    _picture(tmp_path / "n0.png", mode="L", value=3)  # greyscale is converted to RGB
    _picture(tmp_path / "n1.png", mode="RGBA", value=4)
    (tmp_path / "m.csv").write_text(
        f"prompt,seed,image\n{DOCTOR},0,d0.png\n{DOCTOR},1,d1.jpg\n{NURSE},0,n0.png\n{NURSE},1,n1.png\n"
    )
    items, records = _import(tmp_path / "m.csv", tmp_path)
    assert len(records) == 4 and all(r.ok for r in records.values())
    doctor_jpeg = records[(items[0].item_id, 1)]
    assert doctor_jpeg.meta["source_format"] == "JPEG"
    assert doctor_jpeg.meta["source_sha256"] == hashlib.sha256((tmp_path / "d1.jpg").read_bytes()).hexdigest()
    assert records[(items[1].item_id, 0)].meta["source_mode"] == "L"
    for record in records.values():
        copied = Image.open(tmp_path / "run" / record.image_path)
        assert copied.mode == "RGB" and copied.size == (80, 72)
    # The copy holds the source's pixels.
    original = np.asarray(Image.open(tmp_path / "d0.png"))
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "run" / records[(items[0].item_id, 0)].image_path)), original
    )


def test_a_jsonl_manifest_without_seeds_numbers_them_in_file_order(tmp_path):
    for n in range(3):
        _picture(tmp_path / f"d{n}.png", value=n)
    lines = [json.dumps({"prompt": DOCTOR, "image": str(tmp_path / f"d{n}.png")}) for n in range(3)]
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    items, records = _import(tmp_path / "m.jsonl", tmp_path, seeds=(0, 1, 2))
    doctor = [records[(items[0].item_id, s)] for s in range(3)]
    assert [r.meta["source"] for r in doctor] == [str(tmp_path / f"d{n}.png") for n in range(3)]
    # The nurse prompt has no images: recorded as failures, not silently dropped.
    nurse = [records[(items[1].item_id, s)] for s in range(3)]
    assert all("no image for this prompt with seed" in r.error for r in nurse)


def test_a_corrupt_or_small_file_is_rejected_naming_it_and_the_import_goes_on(tmp_path):
    _picture(tmp_path / "good.png")
    (tmp_path / "corrupt.png").write_bytes(_picture(tmp_path / "tmp.png").read_bytes()[:200])
    _picture(tmp_path / "tiny.png", size=(16, 16))
    rows = f"prompt,seed,image\n{DOCTOR},0,good.png\n{DOCTOR},1,corrupt.png\n{NURSE},0,tiny.png\n{NURSE},1,gone.png\n"
    (tmp_path / "m.csv").write_text(rows)
    items, records = _import(tmp_path / "m.csv", tmp_path)
    assert records[(items[0].item_id, 0)].ok
    assert (
        "line 3" in records[(items[0].item_id, 1)].error
        and "corrupt.png is corrupt" in records[(items[0].item_id, 1)].error
    )
    assert "tiny.png is 16x16, smaller than min_size 64" in records[(items[1].item_id, 0)].error
    assert "gone.png does not exist" in records[(items[1].item_id, 1)].error


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("image,seed\nx.png,0\n", r"line 1: the header needs a 'prompt' column"),
        (f"prompt,seed,image\n{DOCTOR},0,\n", r"line 2: field 'image'"),
        (f"prompt,seed,image\n{DOCTOR},-1,a.png\n", r"line 2: field 'seed' must be a non-negative integer, got '-1'"),
        (
            f"prompt,seed,image\n{DOCTOR},0,a.png\n{DOCTOR},0,b.png\n",
            r"line 3: prompt .* with seed 0 already has an image \(line 2\)",
        ),
    ],
)
def test_malformed_manifests_fail_naming_file_line_and_field(tmp_path, text, expected):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ConfigError, match=expected) as info:
        read_manifest(tmp_path / "m.csv")
    assert str(info.value).startswith(str(tmp_path / "m.csv"))


def test_manifest_must_name_a_file_in_the_config(write_config):
    from audit.config import load_config

    config = write_config("name: f\ngenerator: {type: folder}\nprobes: [{suite: demo}]\n")
    with pytest.raises(ConfigError, match="missing required key 'generator.manifest'"):
        load_config(config)
