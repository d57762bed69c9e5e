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


def _scores(record_ids, classifier="c"):
    return pd.DataFrame(
        {
            "record_id": list(record_ids),
            "classifier": classifier,
            "attribute": "a",
            "label": "x",
            "prob": 1.0,
        }
    )


def _embeddings(record_ids, dim=4, classifier="c"):
    import numpy as np
    import pyarrow as pa

    vectors = np.arange(len(record_ids) * dim, dtype=np.float32)
    return pa.table(
        {
            "record_id": pa.array(list(record_ids)),
            "classifier": pa.array([classifier] * len(record_ids)),
            "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors), dim),
        }
    )


def test_appending_score_parts_touches_only_new_files_and_reads_back_whole(tmp_path):
    from audit.core.run_store import EMBEDDINGS, SCORES

    with RunStore.create(tmp_path / "run", config=CONFIG) as store:
        store.append_parts({SCORES: _scores(["r0", "r1"]), EMBEDDINGS: _embeddings(["r0", "r1"])})
        store.compact()
        merged = store.root / SCORES
        before = merged.stat()
        store.append_parts({SCORES: _scores(["r2"]), EMBEDDINGS: _embeddings(["r2"])})
        after = merged.stat()
        # An append costs the batch alone: the merged file is neither rewritten nor read.
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
        assert list(store.read_table(SCORES)["record_id"]) == ["r0", "r1", "r2"]
        store.compact()
        assert list(pd.read_parquet(merged)["record_id"]) == ["r0", "r1", "r2"]
        assert not list((store.root / "parts").rglob("*.parquet"))
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Embeddings are stored as fixed-size float32 arrays, not lists of Python floats.
    kind = pq.read_schema(store.root / EMBEDDINGS).field("embedding").type
    assert pa.types.is_fixed_size_list(kind) and kind.list_size == 4 and kind.value_type == pa.float32()


def test_a_crash_between_merging_and_deleting_parts_counts_no_row_twice(tmp_path):
    import shutil

    from audit.core.run_store import SCORES

    root = tmp_path / "run"
    with RunStore.create(root, config=CONFIG) as store:
        store.append_parts({SCORES: _scores(["r0", "r1"])})
        saved = tmp_path / "parts"
        shutil.copytree(root / "parts", saved)
        store.compact()
    # As if killed after the merged file was renamed into place but before its parts were deleted.
    shutil.rmtree(root / "parts")
    shutil.copytree(saved, root / "parts")
    (root / CLEAN_CLOSE).unlink()
    with RunStore.open(root, lock=False) as reader:
        assert sorted(reader.read_table(SCORES)["record_id"]) == ["r0", "r1"]
    with RunStore.open(root) as store:  # the next writer tidies up
        assert not list((root / "parts").rglob("*.parquet"))
        assert sorted(store.read_table(SCORES)["record_id"]) == ["r0", "r1"]


def test_parts_of_a_batch_whose_scores_never_landed_do_not_count(tmp_path):
    from audit.core.run_store import MEASUREMENTS, SCORES

    root = tmp_path / "run"
    with RunStore.create(root, config=CONFIG) as store:
        store.append_parts({SCORES: _scores(["r0"]), MEASUREMENTS: _measurements(["r0"])})
        # Killed after the measurements part of the next batch, before its scores part (the commit).
        batch = store.append_parts({SCORES: _scores(["r1"]), MEASUREMENTS: _measurements(["r1"])})
        (root / "parts" / "scores" / f"{batch}.parquet").unlink()
        assert list(store.read_table(MEASUREMENTS)["record_id"]) == ["r0"]
    (root / CLEAN_CLOSE).unlink()
    with RunStore.open(root) as store:
        assert [p.name for p in (root / "parts" / "measurements").iterdir()] == [
            p.name for p in (root / "parts" / "scores").iterdir()
        ]
        assert list(store.read_table(MEASUREMENTS)["record_id"]) == ["r0"]


def _measurements(record_ids):
    return pd.DataFrame({"record_id": list(record_ids), "classifier": "c", "measurement": "m", "value": 1.0})


def _concurrent_writer(root, worker, batches):
    from audit.core.run_store import SCORES

    item = _item(f"a photo of writer {worker}")
    with RunStore.open(root, lock=False) as store:
        for b in range(batches):
            records = [_record(item, b * 4 + i) for i in range(4)]
            store.save_generations([(r, _image(worker)) for r in records])
            store.append_parts({SCORES: _scores([r.record_id for r in records])})


def test_concurrent_writers_never_corrupt_the_manifest_or_the_score_files(tmp_path):
    import multiprocessing

    from audit.core.run_store import SCORES

    root = tmp_path / "run"
    RunStore.create(root, config=CONFIG).close()
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_concurrent_writer, args=(root, w, 25)) for w in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    with RunStore.open(root) as store:
        lines = (root / GENERATIONS).read_text().splitlines()
        assert len(lines) == 3 * 25 * 4 and all(json.loads(line)["record_id"] for line in lines)
        assert len(store.done_pairs()) == 3 * 100
        scores = store.read_table(SCORES)
        assert len(scores) == 300 and not scores.duplicated("record_id").any()


def test_a_run_directory_written_before_score_parts_is_read_and_continued(tmp_path):
    """Runs of earlier versions: scores and embeddings rewritten whole by pandas, lists of floats, no clean mark."""
    import numpy as np

    from audit.core.run_store import EMBEDDINGS, SCORES

    root = tmp_path / "run"
    with RunStore.create(root, config=CONFIG) as store:
        store.save_generation(_record(_item(), 0), _image(1))
    (root / CLEAN_CLOSE).unlink()
    _scores(["old"]).to_parquet(root / SCORES, index=False)
    pd.DataFrame({"record_id": ["old"], "classifier": "c", "embedding": [[0.5, 0.25, 0.0, 1.0]]}).to_parquet(
        root / EMBEDDINGS, index=False
    )
    with RunStore.open(root) as store:
        assert store.done_pairs() == {(_item().item_id, 0)}
        store.append_parts({SCORES: _scores(["new"]), EMBEDDINGS: _embeddings(["new"])})
        store.compact()
        assert list(store.read_table(SCORES)["record_id"]) == ["old", "new"]
        embeddings = store.read_table(EMBEDDINGS)
        np.testing.assert_allclose(np.stack(embeddings["embedding"]), [[0.5, 0.25, 0.0, 1.0], [0, 1, 2, 3]])
