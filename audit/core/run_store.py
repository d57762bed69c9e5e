"""The run directory: the single source of truth every stage reads and writes.

Layout (see docs/architecture.md); every name is a constant of this module::

    run.yaml               RUN_INFO      resolved config, versions, host, seeds — written once
    probes.parquet         PROBES        one row per ProbeItem
    generations.jsonl      GENERATIONS   append-only, one line per finished (or failed) image
    images/<item_id>/<seed>.png
    scores.parquet         SCORES        one row per (image, classifier, attribute, label)
    measurements.parquet   MEASUREMENTS  raw classifier numbers
    embeddings.parquet     EMBEDDINGS    image embeddings (CLIP, float32 fixed-size arrays), for diversity
    parts/<table>/*.parquet PARTS        rows appended while a stage runs, not yet merged into the tables above
    scoring.json           SCORING_INFO  the version of every classifier that wrote scores
    tables/*.parquet       TABLES        statistics
    findings.json          FINDINGS      one object per policy check
    sequential.json        SEQUENTIAL    a sequential run's progress: rounds done, prompts still sampling
    report.html, summary.json           REPORT, SUMMARY

Which seeds an item gets is decided here too (:func:`seeds_for`, :meth:`RunStore.pairs`).

Crash safety. Every file is written under a temporary name, fsync'd and
renamed into place, so a reader never sees half a file. Images are saved a
batch at a time: each PNG is fsync'd and renamed, then each folder that
gained a file is fsync'd once, then the batch's records are appended to
generations.jsonl in one write and one fsync — so a record never names an
image a crash could take back, at one folder and one manifest sync per
batch. Score rows are appended as new part files (:meth:`RunStore.append_parts`),
the scores part last, so that appending costs time in proportion to the batch,
and merged into the table files once at the end of the stage
(:meth:`RunStore.compact`); a merged file names the parts it took in, so a crash
between merging and deleting them cannot count a row twice.

A writer that closes the store leaves a ``.clean`` mark; reopening a run
without it (killed, or written by an older diffaudit) repairs what a crash can
leave behind — a torn last line, an image without a record, a temporary file,
a part whose batch never committed — and reopening a clean run costs nothing.
A full disk stops a write with :class:`StorageFullError` and leaves the
directory as it was before that write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import platform
import re
import secrets
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from audit.core.errors import RunStoreError
from audit.core.records import ITEM_ID_PATTERN, GenerationRecord, ProbeItem

log = logging.getLogger(__name__)

RUN_INFO = "run.yaml"
GENERATIONS = "generations.jsonl"
PROBES = "probes.parquet"
IMAGES = "images"
SCORES = "scores.parquet"
MEASUREMENTS = "measurements.parquet"
EMBEDDINGS = "embeddings.parquet"
SCORING_INFO = "scoring.json"
PARTS = "parts"
TABLES = "tables"
FINDINGS = "findings.json"
SEQUENTIAL = "sequential.json"  # a sequential run's progress, written after each round of seeds
COMPARISON = "comparison.json"  # a mitigated run compared pair by pair with its baseline (diffaudit compare)
REBALANCED = "rebalanced.json"  # datasets rebalanced from this run (diffaudit rebalance)
VALIDATION = "validation.json"  # each scored (classifier, attribute): its attached validation summary, or none
REPORT = "report.html"
SUMMARY = "summary.json"
_TMP_SUFFIX = ".tmp"
_LOCK = ".lock"
CLEAN_CLOSE = ".clean"  # left by a writer that closed the store: no repair needed
# Tables that grow by appending part files; in commit order (a batch counts once its scores part exists).
APPENDABLE = (MEASUREMENTS, EMBEDDINGS, SCORES)
# Key of a merged table's parquet metadata listing the batches (parts) it took in.
_MERGED_KEY = b"diffaudit.merged_parts"
# A write refused for lack of room: a full disk, a quota, a file-size limit.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")

# The libraries whose versions decide whether a run can be repeated bit for bit.
TRACKED_PACKAGES = (
    "diffaudit",
    "torch",
    "torchvision",
    "diffusers",
    "transformers",
    "open_clip_torch",
    "numpy",
    "pandas",
    "scipy",
    "pillow",
    "safetensors",
)


def package_versions(names: Iterable[str] = TRACKED_PACKAGES) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def host_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        info["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


class StorageFullError(RunStoreError):
    """The disk (or a quota, or a file-size limit) refused a write; the run directory stays consistent."""


class UnreadableRunFile(RunStoreError):
    """A file of the run cannot be read (cut short, overwritten, holding what diffaudit never wrote).

    The message names the file and what writes it again; ``name`` is the file's name inside the run.
    """

    def __init__(self, root: str | Path, name: str, reason: str) -> None:
        self.name = name
        reason = " ".join(str(reason).split())[:200]
        super().__init__(f"{Path(root) / name}: unreadable ({reason}); {rewrite_hint(root, name)}")


def rewrite_hint(root: str | Path, name: str) -> str:
    """How to get a run's file ``name`` written again, for an error about it."""
    if name == FINDINGS or name.startswith(f"{TABLES}/"):
        return f"`diffaudit analyze {root}` writes it again"
    if name in (SCORING_INFO, VALIDATION):
        return f"`diffaudit score {root}` writes it again"
    if name in APPENDABLE:
        return (
            f"delete {', '.join(APPENDABLE)} and {SCORING_INFO}, then `diffaudit score {root}` scores the images again"
        )
    if name in (REPORT, SUMMARY):
        return f"`diffaudit report {root}` writes it again"
    if name in (RUN_INFO, PROBES):
        return "it is written once, when the run starts: restore it, or start the run again with --out"
    return "restore it, or start the run again with --out"


def read_run_json(root: str | Path, name: str) -> Any:
    """A JSON file of the run (None when it is missing); anything unreadable is an :class:`UnreadableRunFile`."""
    path = Path(root) / name
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise UnreadableRunFile(root, name, str(exc) or type(exc).__name__) from None


@dataclasses.dataclass(frozen=True)
class EncodedImage:
    """An image already encoded as PNG (where it was made: a Ray worker, say), with its size."""

    data: bytes
    width: int
    height: int

    @classmethod
    def from_image(cls, image: Any) -> EncodedImage:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return cls(buffer.getvalue(), image.width, image.height)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    """Write ``data`` under a temporary name, fsync it and rename it to ``path`` (the folder is not synced)."""
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk leaves no half file behind
        raise


def _in_parallel(func: Any, args: Sequence[Any]) -> None:
    """Run ``func`` over ``args`` on a few threads: concurrent fsyncs share journal commits (about 10 times faster)."""
    global _SYNC_POOL
    if len(args) <= 1:
        for arg in args:
            func(arg)
        return
    if _SYNC_POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _SYNC_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="diffaudit-fsync")
    for future in [_SYNC_POOL.submit(func, arg) for arg in args]:
        future.result()


_SYNC_POOL: Any = None


def _write_files(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write several files as :func:`_write_file` does, their fsyncs in parallel; none is left half-written."""
    temporaries = [path.with_name(path.name + _TMP_SUFFIX) for path, _ in files]
    descriptors: list[int] = []
    try:
        for tmp, (_, data) in zip(temporaries, files, strict=True):
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            descriptors.append(fd)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        _in_parallel(os.fsync, descriptors)
        for tmp, (path, _) in zip(temporaries, files, strict=True):
            os.replace(tmp, path)
    except BaseException:
        for tmp in temporaries:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        for fd in descriptors:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_file(path, data)
    _fsync_dir(path.parent)


def _batch_id() -> str:
    """A new part's name: sorts by time of writing, unique across processes and machines."""
    return f"{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"


def _batch_of(part: Path) -> str:
    return part.name.split(".", 1)[0]


class RunStore:
    """Owns one run directory. Open it with :meth:`create` or :meth:`open`.

    Opened with ``lock`` (the default) the store is this process's to write:
    a second writer is refused. Readers (``lock=False``) never change the
    directory and ignore what a running writer has not committed yet.
    """

    def __init__(self, root: Path, *, lock: bool = True) -> None:
        self.root = Path(root)
        self._lock_fh = None
        self._info: dict[str, Any] | None = None
        self._folders: set[Path] = set()  # image folders known to exist on disk
        self._dirty = False  # a write failed part-way: the next writer repairs
        if lock:
            self._acquire_lock()

    # -- opening ---------------------------------------------------------------
    @classmethod
    def create(
        cls,
        root: str | Path,
        *,
        config: dict[str, Any],
        seeds: dict[str, list[int]] | None = None,
        resume: bool = False,
    ) -> RunStore:
        """Start a run in ``root`` (writing run.yaml), or continue it when ``resume``.

        A directory that already holds a run is an error unless ``resume`` is
        set and its recorded config equals ``config`` (which executor runs the
        stages does not matter: it does not change an image).
        """
        root = Path(root)
        info_path = root / RUN_INFO
        if info_path.exists():
            if not resume:
                raise RunStoreError(
                    f"{root}: a run already exists here; pass --resume to continue it or --out to start a new one"
                )
            store = cls.open(root)
            recorded = store.run_info()
            if _identity(recorded.get("config")) != _identity(config) or recorded.get("seeds") != (seeds or {}):
                store.close()
                raise RunStoreError(
                    f"{root}: this run was made with a different config; "
                    "resume it with the same config or start a new one with --out"
                )
            return store
        if root.exists() and any(p.name != _LOCK for p in root.iterdir()):
            raise RunStoreError(f"{root}: directory is not empty and holds no run.yaml")
        root.mkdir(parents=True, exist_ok=True)
        store = cls(root)
        info = {
            "config": config,
            "seeds": seeds or {},
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "versions": package_versions(),
            "host": host_info(),
        }
        with store._writing(RUN_INFO):
            atomic_write_bytes(info_path, yaml.safe_dump(info, sort_keys=False).encode("utf-8"))
        store._info = info
        return store

    @classmethod
    def open(cls, root: str | Path, *, lock: bool = True) -> RunStore:
        """Open an existing run; a writer (``lock``) first repairs what a crash left behind."""
        root = Path(root)
        if not (root / RUN_INFO).is_file():
            raise RunStoreError(f"{root}: not a run directory (no {RUN_INFO})")
        store = cls(root, lock=lock)
        if lock:
            store._start_writing()
        return store

    def _acquire_lock(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / _LOCK, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise RunStoreError(f"{self.root}: another diffaudit process is using this run") from None
        self._lock_fh = fh

    def _start_writing(self) -> None:
        """Repair unless the last writer closed cleanly; then mark the run as being written."""
        mark = self.root / CLEAN_CLOSE
        if mark.exists():
            mark.unlink()
            _fsync_dir(self.root)  # a crash from here on must find the mark gone
        else:
            self.repair()

    def close(self) -> None:
        if self._lock_fh is not None:
            if not self._dirty:
                with contextlib.suppress(OSError):  # no room for the mark: the next writer repairs
                    atomic_write_bytes(self.root / CLEAN_CLOSE, b"")
            self._release()

    def discard_if_unstarted(self) -> bool:
        """Remove the run if it recorded no image yet, and close the store; returns whether it was removed.

        A run that stops before its first image (a model that would not load) holds nothing to keep, and
        left in place it would stand in the way of a rerun with a corrected config.
        """
        if self._lock_fh is None or not _never_started(self.root):
            return False
        _remove_unstarted(self.root)
        self._release()
        (self.root / _LOCK).unlink(missing_ok=True)
        return True

    def _release(self) -> None:
        """Let go of the lock (without the clean-close mark)."""
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Turn a full disk into one clear error; any failed write makes the next writer repair."""
        try:
            yield
        except OSError as exc:
            self._dirty = True
            if exc.errno in _NO_ROOM:
                raise StorageFullError(
                    f"{self.root}: no room to write {what} ({exc.strerror}); free some space and continue "
                    "with --resume: everything finished before is kept"
                ) from None
            raise
        except BaseException:
            self._dirty = True
            raise

    # -- run.yaml --------------------------------------------------------------
    def run_info(self) -> dict[str, Any]:
        """run.yaml as a mapping (written once, so read once per store)."""
        if self._info is None:
            try:
                info = yaml.safe_load((self.root / RUN_INFO).read_bytes().decode("utf-8"))
            except (ValueError, yaml.YAMLError, RecursionError) as exc:
                raise UnreadableRunFile(self.root, RUN_INFO, str(exc).splitlines()[0] if str(exc) else exc) from None
            if not isinstance(info, dict) or not isinstance(info.get("config"), dict):
                raise UnreadableRunFile(self.root, RUN_INFO, "no 'config' mapping")
            if not isinstance(info.get("seeds") or {}, dict):
                raise UnreadableRunFile(self.root, RUN_INFO, "'seeds' is not a mapping of suite to seeds")
            self._info = info
        return self._info

    @property
    def config(self) -> dict[str, Any]:
        return self.run_info()["config"]

    def validation_summaries(self) -> dict[tuple[str, str], dict[str, Any]]:
        """The classifier validations attached to the run (validation.json), keyed by (classifier, attribute)."""
        data = read_run_json(self.root, VALIDATION)
        if data is None:
            return {}
        try:
            return {
                (e["classifier"], e["attribute"]): e["summary"] for e in data.get("attributes", []) if e["validated"]
            }
        except (AttributeError, KeyError, TypeError) as exc:
            raise UnreadableRunFile(self.root, VALIDATION, f"not a validation record: {exc!r}") from None

    def out_of_domain(self) -> dict[tuple[str, str], str]:
        """(classifier, attribute) pairs whose classifier was not made for the kind of images this run's
        generator makes (validation.json), with the reason: recorded, never judged."""
        path = self.root / VALIDATION
        if not path.is_file():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return {
            (e["classifier"], e["attribute"]): e["domain"]["reason"]
            for e in data.get("attributes", [])
            if isinstance(e.get("domain"), dict) and e["domain"].get("in_domain") is False
        }

    def sequential_progress(self) -> dict[str, Any]:
        """A sequential run's progress (sequential.json): rounds done and prompts still sampling; {} when none."""
        path = self.root / SEQUENTIAL
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise RunStoreError(f"{path}: not a sequential progress record ({exc})") from None

    @property
    def seeds(self) -> dict[str, list[int]]:
        """Seeds per suite, as resolved when the run started."""
        return self.run_info().get("seeds") or {}

    def pairs(self, items: Iterable[ProbeItem]) -> list[tuple[ProbeItem, int]]:
        """Every (item, seed) the run makes for ``items``, in order; see :func:`seeds_for`."""
        suite_seeds = self.seeds
        return [(item, seed) for item in items for seed in seeds_for(item, suite_seeds)]

    # -- repair ----------------------------------------------------------------
    def repair(self) -> None:
        """Bring the directory back to a consistent state after a crash.

        - a torn last line of generations.jsonl (killed mid-write) is cut off;
        - records whose image file is gone are dropped (the image is redone);
        - image files without a record, and temporary files, are removed;
        - parts of a batch whose scores part never landed, and parts already
          merged into their table, are removed.
        """
        pngs: list[Path] = []
        for folder, _, files in os.walk(self.root):
            for name in files:
                if name.endswith(_TMP_SUFFIX):
                    path = Path(folder) / name
                    log.info("removing unfinished write %s", path.relative_to(self.root))
                    path.unlink()
                elif name.endswith(".png"):
                    pngs.append(Path(folder) / name)
        path = self.root / GENERATIONS
        records: list[GenerationRecord] = []
        rewrite = False
        if path.exists():
            raw = path.read_bytes()
            if raw and not raw.endswith(b"\n"):
                log.warning("%s: dropping a torn last line left by an interrupted run", path)
                raw = raw[: raw.rfind(b"\n") + 1]
                rewrite = True
            present = {p.relative_to(self.root).as_posix() for p in pngs}
            for record in _parse_records(raw, path):
                if record.image_path and record.image_path not in present:
                    log.warning("record %s points to a missing image; it will be redone", record.record_id)
                    rewrite = True
                    continue
                records.append(record)
        if rewrite:
            atomic_write_bytes(path, b"".join(_record_line(r) for r in records))
        recorded = {r.image_path for r in records if r.image_path}
        for png in pngs:
            rel = png.relative_to(self.root).as_posix()
            if rel not in recorded:
                log.info("removing image without a record %s", rel)
                png.unlink()
        self._tidy_parts()

    # -- probes ----------------------------------------------------------------
    def write_probes(self, items: list[ProbeItem]) -> None:
        import pandas as pd

        rows = [item.as_dict() for item in items]
        for row in rows:
            # Nested mappings are kept as JSON text so the table has a fixed schema.
            row["attributes"] = json.dumps(row["attributes"], sort_keys=True)
            row["reference"] = json.dumps(row["reference"], sort_keys=True)
            row["seeds"] = None if row["seeds"] is None else json.dumps(row["seeds"])
        self.write_table(PROBES, pd.DataFrame(rows, columns=[f.name for f in dataclasses.fields(ProbeItem)]))

    def probes(self) -> list[ProbeItem]:
        df = self.read_table(PROBES)
        items = []
        for row in df.to_dict("records"):
            try:
                row["attributes"] = json.loads(row["attributes"])
                row["reference"] = json.loads(row["reference"])
                if "seeds" in row:
                    row["seeds"] = None if _isna(row["seeds"]) else json.loads(row["seeds"])
                items.append(ProbeItem.from_dict({k: (None if _isna(v) else v) for k, v in row.items()}))
            except (KeyError, TypeError, ValueError) as exc:
                raise UnreadableRunFile(self.root, PROBES, f"not a table of prompts: {exc!r}") from None
        return items

    # -- images and generation records ----------------------------------------
    def image_relpath(self, item_id: str, seed: int) -> str:
        """``images/<item_id>/<seed>.png``: built from our own hex id and an int, never a prompt."""
        if not ITEM_ID_PATTERN.match(item_id):
            raise ValueError(f"not a ProbeItem id: {item_id!r}")
        return f"{IMAGES}/{item_id}/{int(seed)}.png"

    def save_generation(self, record: GenerationRecord, image: Any | None = None) -> GenerationRecord:
        """Write ``image`` (a PIL image or :class:`EncodedImage`) if given, then append its record."""
        return self.save_generations([(record, image)])[0]

    def save_generations(self, outputs: Sequence[tuple[GenerationRecord, Any | None]]) -> list[GenerationRecord]:
        """Write a batch of images, then append their records; returns the final records.

        Each image (a PIL image, or an :class:`EncodedImage` made elsewhere) is
        written and fsync'd, the folders that gained a file are fsync'd, and
        only then are the records appended — in one write, under a lock, so
        that concurrent writers never interleave lines. A failed record (no
        image) is appended as it is.
        """
        final: list[GenerationRecord] = []
        files: list[tuple[Path, bytes]] = []
        changed: set[Path] = set()
        with self._writing("images and generations.jsonl"):
            for record, image in outputs:
                if image is not None:
                    encoded = image if isinstance(image, EncodedImage) else EncodedImage.from_image(image)
                    rel = self.image_relpath(record.item_id, record.seed)
                    path = self.root / rel
                    changed |= self._make_folder(path.parent)
                    files.append((path, encoded.data))
                    changed.add(path.parent)
                    record = dataclasses.replace(
                        record,
                        image_path=rel,
                        sha256=hashlib.sha256(encoded.data).hexdigest(),
                        width=encoded.width,
                        height=encoded.height,
                    )
                final.append(record)
            _write_files(files)
            _in_parallel(_fsync_dir, sorted(changed))
            self._append(GENERATIONS, b"".join(_record_line(r) for r in final))
        return final

    def _make_folder(self, folder: Path) -> set[Path]:
        """Create ``folder`` if need be; returns the folders whose entries changed (to be synced)."""
        if folder in self._folders:
            return set()
        changed = set()
        missing = []
        probe = folder
        while not probe.is_dir():
            missing.append(probe)
            probe = probe.parent
        for path in reversed(missing):
            path.mkdir(exist_ok=True)
            changed.add(path.parent)
        self._folders.add(folder)
        return changed

    def _append(self, name: str, data: bytes) -> None:
        """Append ``data`` whole or not at all, one writer at a time."""
        fd = os.open(self.root / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # Ray workers or other processes appending to the same file wait here
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except BaseException:
                os.ftruncate(fd, start)  # a full disk must not leave half a line behind
                raise
        finally:
            os.close(fd)

    def generations(self) -> list[GenerationRecord]:
        """The current record per (item, seed): the log is append-only, the latest line wins."""
        path = self.root / GENERATIONS
        if not path.exists():
            return []
        raw = path.read_bytes()
        # A last line without its newline is being written, or was torn by a crash: not a record yet.
        raw = raw[: raw.rfind(b"\n") + 1]
        latest = {(r.item_id, r.seed): r for r in _parse_records(raw, path)}
        return list(latest.values())

    def done_pairs(self) -> set[tuple[str, int]]:
        """(item_id, seed) pairs that already have an image on disk; failed ones are not done."""
        return {
            (r.item_id, r.seed)
            for r in self.generations()
            if r.ok and (self.root / r.image_path).is_file()  # type: ignore[operator]
        }

    # -- appendable tables: scores, measurements, embeddings --------------------
    def append_parts(self, tables: dict[str, Any]) -> str:
        """Append one batch of rows to the appendable tables; returns the batch's name.

        ``tables`` maps :data:`APPENDABLE` names to a pyarrow Table or
        DataFrame (or a list of them, for rows of different shapes) and must
        include :data:`SCORES`: the other parts are written first and the
        scores part last, so a batch counts once its scores part is on disk and
        a crash in between leaves nothing half-counted. Every part is a new file
        with a unique name, so concurrent writers cannot collide, and the cost
        is that of the batch alone.
        """
        if SCORES not in tables or set(tables) - set(APPENDABLE):
            raise ValueError(f"append_parts takes {', '.join(APPENDABLE)} and needs {SCORES}")
        import pyarrow.parquet as pq

        batch = _batch_id()
        written: list[Path] = []
        with self._writing("scores"):
            try:
                for name in APPENDABLE:
                    value = tables.get(name)
                    pieces = [] if value is None else value if isinstance(value, list) else [value]
                    folder = self._parts_folder(name)
                    if name == SCORES:
                        for path in {p.parent for p in written}:
                            _fsync_dir(path)  # the batch's other parts are durable before its commit
                    for k, piece in enumerate(pieces):
                        folder.mkdir(parents=True, exist_ok=True)
                        path = folder / (f"{batch}.parquet" if k == 0 else f"{batch}.{k}.parquet")
                        buffer = io.BytesIO()
                        pq.write_table(_arrow(piece), buffer)
                        _write_file(path, buffer.getvalue())
                        written.append(path)
                _fsync_dir(self._parts_folder(SCORES))
            except BaseException:
                for path in written:
                    path.unlink(missing_ok=True)
                raise
        return batch

    def compact(self) -> None:
        """Merge every appendable table's parts into its file: once per stage, in time linear in the run."""
        with self._writing("scores"):
            self._tidy_parts()
            for name in APPENDABLE:  # scores last: until it is merged, its parts still commit the others
                self._merge(name)

    def has_table(self, name: str) -> bool:
        """Whether the table has rows on disk (merged, or in parts of committed batches)."""
        return self._checked(name).exists() or bool(name in APPENDABLE and self._live_parts(name))

    def _parts_folder(self, name: str) -> Path:
        return self.root / PARTS / name.removesuffix(".parquet")

    def _merged(self, name: str) -> set[str]:
        """The batches the merged file of ``name`` took in (recorded in its parquet metadata)."""
        import pyarrow.parquet as pq

        path = self.root / name
        if not path.exists():
            return set()
        metadata = pq.read_schema(path).metadata or {}
        return set(json.loads(metadata.get(_MERGED_KEY, b"[]")))

    def _committed(self) -> set[str]:
        folder = self._parts_folder(SCORES)
        parts = {_batch_of(p) for p in folder.glob("*.parquet")} if folder.is_dir() else set()
        return parts | self._merged(SCORES)

    def _live_parts(self, name: str, committed: set[str] | None = None) -> list[Path]:
        """Parts of committed batches not merged yet, oldest first: the rows to add to the merged file."""
        folder = self._parts_folder(name)
        if not folder.is_dir():
            return []
        merged = self._merged(name)
        if name != SCORES and committed is None:
            committed = self._committed()
        return sorted(
            (
                p
                for p in folder.glob("*.parquet")
                if _batch_of(p) not in merged and (name == SCORES or _batch_of(p) in committed)  # type: ignore[operator]
            ),
            key=lambda p: p.name,
        )

    def _tidy_parts(self) -> None:
        """Delete parts already merged, and parts of batches that never committed."""
        committed = self._committed()
        for name in APPENDABLE:
            folder = self._parts_folder(name)
            if not folder.is_dir():
                continue
            merged = self._merged(name)
            for part in folder.glob("*.parquet"):
                batch = _batch_of(part)
                if batch in merged or (name != SCORES and batch not in committed):
                    part.unlink()

    def _merge(self, name: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = self._live_parts(name)
        if not parts:
            return
        path = self.root / name
        sources = ([path] if path.exists() else []) + parts
        schema = _common_schema([pq.read_schema(s) for s in sources])
        merged = sorted({_batch_of(p) for p in parts})
        tmp = path.with_name(path.name + _TMP_SUFFIX)
        try:
            with pq.ParquetWriter(tmp, schema.with_metadata({_MERGED_KEY: json.dumps(merged).encode()})) as writer:
                pending: list[Any] = []
                rows = 0
                for source in sources:
                    for batch in pq.ParquetFile(source).iter_batches(batch_size=65536, columns=schema.names):
                        pending.append(pa.Table.from_batches([batch]).cast(schema))
                        rows += batch.num_rows
                        if rows >= 65536:  # row groups of a useful size, whatever the size of the parts
                            writer.write_table(pa.concat_tables(pending))
                            pending, rows = [], 0
                if pending:
                    writer.write_table(pa.concat_tables(pending))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        for part in parts:  # from here a crash leaves parts that the merged file names: never counted twice
            part.unlink()

    def _drop_parts(self, name: str) -> None:
        folder = self._parts_folder(name)
        if folder.is_dir():
            for part in folder.glob("*.parquet"):
                part.unlink()

    # -- tables and documents --------------------------------------------------
    def _checked(self, name: str) -> Path:
        parts = Path(name).parts
        if not parts or any(not _TABLE_NAME.match(p) for p in parts):
            raise ValueError(f"not a valid file name inside a run: {name!r}")
        return self.root / name

    def write_table(self, name: str, df: Any) -> Path:
        """Write a DataFrame as parquet atomically (``tables/foo.parquet`` or ``scores.parquet``).

        Writing an appendable table whole replaces it, parts included.
        """
        path = self._checked(name)
        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        with self._writing(name):
            atomic_write_bytes(path, buffer.getvalue())
            if name in APPENDABLE:
                self._drop_parts(name)
        return path

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> Any:
        """A table of the run as a DataFrame (only ``columns``, if given).

        An appendable table is its merged file plus the parts of committed
        batches, so a stage that was interrupted is read as far as it got.
        """
        import pandas as pd

        path = self._checked(name)
        import pyarrow as pa

        try:
            if name not in APPENDABLE or not self._live_parts(name):
                if not path.exists():
                    raise RunStoreError(f"{self.root}: {name} is missing; run the stage that writes it first")
                return pd.read_parquet(path, columns=list(columns) if columns is not None else None)
            import pyarrow.parquet as pq

            sources = ([path] if path.exists() else []) + self._live_parts(name)
            tables = [pq.read_table(s, columns=list(columns) if columns is not None else None) for s in sources]
            schema = _common_schema([t.schema for t in tables])
            return pa.concat_tables([t.select(schema.names).cast(schema) for t in tables]).to_pandas()
        except (pa.ArrowException, OSError, ValueError) as exc:  # not parquet, cut short, columns missing
            raise UnreadableRunFile(self.root, name, f"not a parquet table: {exc}") from None

    def write_text(self, name: str, text: str) -> Path:
        path = self._checked(name)
        with self._writing(name):
            atomic_write_bytes(path, text.encode("utf-8"))
        return path

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(obj, indent=2, sort_keys=False) + "\n")


# What a run holds before its first image is recorded: run.yaml and probes.parquet, and the marks of the store.
_UNSTARTED = frozenset({RUN_INFO, PROBES, GENERATIONS, IMAGES, PARTS, _LOCK, CLEAN_CLOSE})


def _never_started(root: Path) -> bool:
    """Whether the run in ``root`` recorded no image yet: nothing in it but what every run starts with."""
    try:
        entries = list(root.iterdir())
        return all(
            entry.name in _UNSTARTED
            and (
                (entry.is_file() and (entry.name != GENERATIONS or entry.stat().st_size == 0))
                or (entry.is_dir() and not any(p.is_file() for p in entry.rglob("*")))
            )
            for entry in entries
        )
    except OSError:
        return False


def _remove_unstarted(root: Path) -> None:
    for name in (RUN_INFO, PROBES, GENERATIONS, CLEAN_CLOSE):
        (root / name).unlink(missing_ok=True)
    for name in (IMAGES, PARTS):
        if (root / name).is_dir():
            import shutil

            shutil.rmtree(root / name)


def _identity(config: Any) -> Any:
    """What of a config decides the run's images and numbers (not which executor ran the stages)."""
    return {k: v for k, v in config.items() if k != "executor"} if isinstance(config, dict) else config


def _arrow(table: Any) -> Any:
    """A pyarrow Table without pandas' metadata (DataFrames are converted)."""
    import pyarrow as pa

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    return table.replace_schema_metadata(None)


def _common_schema(schemas: Sequence[Any]) -> Any:
    """One schema for tables of the same columns written at different times (no metadata).

    Embeddings stay fixed-size float32 arrays when every source agrees on the
    size; sources of different sizes (two CLIP models, or a run written before
    fixed-size arrays) share variable-length float32 lists.
    """
    import pyarrow as pa

    first = schemas[0]
    fields = []
    for field in first:
        types = [s.field(field.name).type for s in schemas if field.name in s.names]
        kind = types[-1]  # the newest part's type is the current format
        if any(t != kind for t in types):
            if all(pa.types.is_list(t) or pa.types.is_fixed_size_list(t) or pa.types.is_large_list(t) for t in types):
                kind = pa.list_(pa.float32())
        fields.append(pa.field(field.name, kind))
    return pa.schema(fields)


def seeds_for(item: ProbeItem, suite_seeds: dict[str, list[int]]) -> list[int]:
    """The seeds an item's images are made with: its own (I2P's published seed) or its suite's.

    A prompt the input screen blocked is never generated: it gets none.
    """
    if item.screening == "blocked":
        return []
    return list(item.seeds) if item.seeds is not None else list(suite_seeds.get(item.suite, []))


def _parse_records(raw: bytes, path: Path) -> Iterator[GenerationRecord]:
    """The records of generations.jsonl's complete lines; a line that is not one names the file and line."""
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            yield GenerationRecord.from_dict(data)
        except (ValueError, TypeError, RecursionError) as exc:
            raise RunStoreError(
                f"{path}: line {lineno} is not a generation record ({exc}); delete that line and "
                f"`diffaudit generate {path.parent}` makes its image again"
            ) from None


def _record_line(record: GenerationRecord) -> bytes:
    return (json.dumps(record.as_dict(), sort_keys=True) + "\n").encode("utf-8")


def _isna(value: Any) -> bool:
    try:
        return value is None or value != value  # NaN is the only value not equal to itself
    except (TypeError, ValueError):
        return False
