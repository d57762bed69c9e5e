import hashlib
import json

import pandas as pd
import pytest
import yaml
from PIL import Image

from audit.core.errors import RunStoreError
from audit.core.records import GenerationRecord, ProbeItem
from audit.core.run_store import CLEAN_CLOSE, GENERATIONS, RunStore

CONFIG = {"name": "t", "generator": {"type": "diffusers"}}


def _item(prompt="a photo of a doctor"):
    return ProbeItem.create(suite="demo", prompt=prompt, attributes={"occupation": prompt.split()[-1]})


def _record(item, seed):
    return GenerationRecord(
        record_id=GenerationRecord.make_record_id(item.item_id, seed),
        item_id=item.item_id,
        seed=seed,
        generator="test",
        generator_config="c",
    )


def _image(value=0):
    return Image.new("RGB", (8, 8), (value, 0, 0))


def test_create_writes_run_yaml_once_with_config_versions_host_and_seeds(tmp_path):
    root = tmp_path / "run"
    with RunStore.create(root, config=CONFIG, seeds={"demo": [0, 1]}):
        pass
    info = yaml.safe_load((root / "run.yaml").read_text())
    assert info["config"] == CONFIG
    assert info["seeds"] == {"demo": [0, 1]}
    assert info["versions"]["torch"] and info["versions"]["python"]
    assert info["host"]["hostname"] is not None
    before = (root / "run.yaml").read_bytes()
    with pytest.raises(RunStoreError, match="--resume"):
        RunStore.create(root, config=CONFIG, seeds={"demo": [0, 1]})
    with RunStore.create(root, config=CONFIG, seeds={"demo": [0, 1]}, resume=True):
        pass
    assert (root / "run.yaml").read_bytes() == before


def test_resume_refuses_a_different_config_or_seeds(tmp_path):
    root = tmp_path / "run"
    RunStore.create(root, config=CONFIG, seeds={"demo": [0]}).close()
    with pytest.raises(RunStoreError, match="different config"):
        RunStore.create(root, config={**CONFIG, "name": "other"}, seeds={"demo": [0]}, resume=True)
    with pytest.raises(RunStoreError, match="different config"):
        RunStore.create(root, config=CONFIG, seeds={"demo": [0, 1]}, resume=True)


def test_a_run_is_used_by_one_process_at_a_time(tmp_path):
    store = RunStore.create(tmp_path / "run", config=CONFIG)
    with pytest.raises(RunStoreError, match="another diffaudit process"):
        RunStore.open(tmp_path / "run")
    store.close()
    RunStore.open(tmp_path / "run").close()


def test_saved_image_is_on_disk_and_hashed_before_its_record(tmp_path):
    item = _item()
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        record = store.save_generation(_record(item, 7), _image(5))
        assert record.image_path == f"images/{item.item_id}/7.png"
        data = (store.root / record.image_path).read_bytes()
        assert record.sha256 == hashlib.sha256(data).hexdigest()
        assert (record.width, record.height) == (8, 8)
        line = json.loads((store.root / GENERATIONS).read_text().splitlines()[0])
        assert line["sha256"] == record.sha256
        assert store.done_pairs() == {(item.item_id, 7)}
        assert not list(store.root.rglob("*.tmp"))


def test_failed_images_are_recorded_but_not_done(tmp_path):
    item = _item()
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        store.save_generation(GenerationRecord(**{**_record(item, 0).as_dict(), "error": "RuntimeError: boom"}))
        assert store.done_pairs() == set()
        assert [r.error for r in store.generations()] == ["RuntimeError: boom"]
        # A retry that succeeds supersedes the failure: one current record per pair.
        store.save_generation(_record(item, 0), _image())
        assert [r.ok for r in store.generations()] == [True]


def test_reopening_repairs_what_a_crash_leaves(tmp_path):
    a, b = _item("a photo of a doctor"), _item("a photo of a nurse")
    root = tmp_path / "run"
    with RunStore.create(root, config=CONFIG) as store:
        store.save_generation(_record(a, 0), _image(1))
        lost = store.save_generation(_record(a, 1), _image(2))
    # Crash states: an image whose record never got written, a torn last line,
    # a half-written temporary file, and a record whose image vanished; and no
    # clean-close mark, as a writer killed mid-run leaves none.
    (root / CLEAN_CLOSE).unlink()
    orphan = root / store.image_relpath(b.item_id, 0)
    orphan.parent.mkdir(parents=True)
    _image(3).save(orphan)
    with open(root / GENERATIONS, "a") as fh:
        fh.write('{"record_id": "torn-by-a-kil')
    (root / "images" / "x.png.tmp").write_bytes(b"half")
    (root / lost.image_path).unlink()

    with RunStore.open(root) as store:
        assert store.done_pairs() == {(a.item_id, 0)}
        assert not orphan.exists()
        assert not list(root.rglob("*.tmp"))
        lines = (root / GENERATIONS).read_text().splitlines()
        assert len(lines) == 1 and json.loads(lines[0])["seed"] == 0


def test_a_corrupt_record_line_is_an_error_naming_the_file_and_line(tmp_path):
    root = tmp_path / "run"
    RunStore.create(root, config=CONFIG).close()
    (root / GENERATIONS).write_text('{"not": "a record"}\n')
    with RunStore.open(root, lock=False) as reader, pytest.raises(RunStoreError, match=r"generations.jsonl: line 1"):
        reader.generations()
    (root / CLEAN_CLOSE).unlink()  # a writer's repair after a crash reads every line too
    with pytest.raises(RunStoreError, match=r"generations.jsonl: line 1"):
        RunStore.open(root)


def test_tables_are_written_atomically_and_read_back(tmp_path):
    df = pd.DataFrame({"record_id": ["a", "b"], "prob": [0.25, 0.75]})
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        path = store.write_table("tables/shares.parquet", df)
        assert path == store.root / "tables" / "shares.parquet"
        pd.testing.assert_frame_equal(store.read_table("tables/shares.parquet"), df)
        # Overwriting replaces the whole file; no temporary file is left behind.
        store.write_table("tables/shares.parquet", df.iloc[:1])
        assert len(store.read_table("tables/shares.parquet")) == 1
        assert not list(store.root.rglob("*.tmp"))
        with pytest.raises(RunStoreError, match="missing"):
            store.read_table("scores.parquet")


@pytest.mark.parametrize("name", ["../escape.parquet", "/etc/passwd", "tables/../../x.parquet", "a photo/of.parquet"])
def test_file_names_inside_a_run_cannot_escape_it(tmp_path, name):
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        with pytest.raises(ValueError, match="not a valid file name"):
            store.write_text(name, "x")


def test_probes_round_trip_through_parquet(tmp_path):
    items = [
        _item("a photo of a doctor"),
        ProbeItem.create(
            suite="pairs", prompt="a man", attributes={"identity": "man"}, pair_id="p0", reference={"pct_women": 50.0}
        ),
    ]
    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        store.write_probes(items)
        assert store.probes() == items
