"""The run directory: the single source of truth every stage reads and writes.

Layout (see docs/architecture.md); every name is a constant of this module::

    run.yaml               RUN_INFO      resolved config, versions, host, seeds — written once
    probes.parquet         PROBES        one row per ProbeItem
    generations.jsonl      GENERATIONS   append-only, one line per finished (or failed) image
    images/<item_id>/<seed>.png
    scores.parquet         SCORES        one row per (image, classifier, attribute, label)
    measurements.parquet   MEASUREMENTS  raw classifier numbers
    embeddings.parquet     EMBEDDINGS    image embeddings (CLIP), for diversity
    scoring.json           SCORING_INFO  the version of every classifier that wrote scores
    tables/*.parquet       TABLES        statistics
    findings.json          FINDINGS      one object per policy check
    report.html, summary.json           REPORT, SUMMARY

Which seeds an item gets is decided here too (:func:`seeds_for`, :meth:`RunStore.pairs`).

Every file is written under a temporary name and renamed into place, so a
reader never sees half a file. An image is recorded in generations.jsonl only
after its PNG is on disk and fsync'd; a line is one ``os.write`` followed by
``fsync``. Reopening a run repairs what a crash can leave behind: a torn last
line, an image without a record, a temporary file.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fcntl
import hashlib
import io
import json
import logging
import os
import platform
import re
import sys
from collections.abc import Iterable
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
TABLES = "tables"
FINDINGS = "findings.json"
VALIDATION = "validation.json"  # each scored (classifier, attribute): its attached validation summary, or none
REPORT = "report.html"
SUMMARY = "summary.json"
_TMP_SUFFIX = ".tmp"
_LOCK = ".lock"
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + _TMP_SUFFIX)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class RunStore:
    """Owns one run directory. Open it with :meth:`create` or :meth:`open`."""

    def __init__(self, root: Path, *, lock: bool = True) -> None:
        self.root = Path(root)
        self._lock_fh = None
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
        set and its recorded config equals ``config``.
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
            if recorded.get("config") != config or recorded.get("seeds") != (seeds or {}):
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
        atomic_write_bytes(info_path, yaml.safe_dump(info, sort_keys=False).encode("utf-8"))
        return store

    @classmethod
    def open(cls, root: str | Path, *, lock: bool = True) -> RunStore:
        """Open an existing run, repairing what an interrupted write left behind."""
        root = Path(root)
        if not (root / RUN_INFO).is_file():
            raise RunStoreError(f"{root}: not a run directory (no {RUN_INFO})")
        store = cls(root, lock=lock)
        if lock:
            store.repair()
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

    def close(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- run.yaml --------------------------------------------------------------
    def run_info(self) -> dict[str, Any]:
        return yaml.safe_load((self.root / RUN_INFO).read_text(encoding="utf-8"))

    @property
    def config(self) -> dict[str, Any]:
        return self.run_info()["config"]

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
        - image files without a record, and temporary files, are removed.
        """
        for tmp in self.root.rglob("*" + _TMP_SUFFIX):
            log.info("removing unfinished write %s", tmp.relative_to(self.root))
            tmp.unlink()
        path = self.root / GENERATIONS
        records: list[GenerationRecord] = []
        rewrite = False
        if path.exists():
            raw = path.read_bytes()
            if raw and not raw.endswith(b"\n"):
                log.warning("%s: dropping a torn last line left by an interrupted run", path)
                raw = raw[: raw.rfind(b"\n") + 1]
                rewrite = True
            for lineno, line in enumerate(raw.splitlines(), 1):
                try:
                    record = GenerationRecord.from_dict(json.loads(line))
                except (ValueError, TypeError) as exc:
                    raise RunStoreError(f"{path}: line {lineno} is not a generation record ({exc})") from None
                if record.image_path and not (self.root / record.image_path).is_file():
                    log.warning("record %s points to a missing image; it will be redone", record.record_id)
                    rewrite = True
                    continue
                records.append(record)
        if rewrite:
            data = b"".join(_record_line(r) for r in records)
            atomic_write_bytes(path, data)
        recorded = {r.image_path for r in records if r.image_path}
        images = self.root / IMAGES
        if images.exists():
            for png in images.rglob("*.png"):
                rel = png.relative_to(self.root).as_posix()
                if rel not in recorded:
                    log.info("removing image without a record %s", rel)
                    png.unlink()

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
            row["attributes"] = json.loads(row["attributes"])
            row["reference"] = json.loads(row["reference"])
            if "seeds" in row:
                row["seeds"] = None if _isna(row["seeds"]) else json.loads(row["seeds"])
            items.append(ProbeItem.from_dict({k: (None if _isna(v) else v) for k, v in row.items()}))
        return items

    # -- images and generation records ----------------------------------------
    def image_relpath(self, item_id: str, seed: int) -> str:
        """``images/<item_id>/<seed>.png``: built from our own hex id and an int, never a prompt."""
        if not ITEM_ID_PATTERN.match(item_id):
            raise ValueError(f"not a ProbeItem id: {item_id!r}")
        return f"{IMAGES}/{item_id}/{int(seed)}.png"

    def save_generation(self, record: GenerationRecord, image: Any | None = None) -> GenerationRecord:
        """Write ``image`` (a PIL image) if given, then append its record; returns the final record.

        The PNG is on disk and fsync'd before the line is appended, so a record
        always points to a complete image.
        """

        if image is not None:
            rel = self.image_relpath(record.item_id, record.seed)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            data = buffer.getvalue()
            atomic_write_bytes(self.root / rel, data)
            record = dataclasses.replace(
                record,
                image_path=rel,
                sha256=hashlib.sha256(data).hexdigest(),
                width=image.width,
                height=image.height,
            )
        self._append_line(GENERATIONS, _record_line(record))
        return record

    def _append_line(self, name: str, line: bytes) -> None:
        fd = os.open(self.root / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            # One write call for the whole line: with O_APPEND it lands in one piece.
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def generations(self) -> list[GenerationRecord]:
        """The current record per (item, seed): the log is append-only, the latest line wins."""
        path = self.root / GENERATIONS
        if not path.exists():
            return []
        latest: dict[tuple[str, int], GenerationRecord] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = GenerationRecord.from_dict(json.loads(line))
                latest[(record.item_id, record.seed)] = record
        return list(latest.values())

    def done_pairs(self) -> set[tuple[str, int]]:
        """(item_id, seed) pairs that already have an image on disk; failed ones are not done."""
        return {
            (r.item_id, r.seed)
            for r in self.generations()
            if r.ok and (self.root / r.image_path).is_file()  # type: ignore[operator]
        }

    # -- tables and documents --------------------------------------------------
    def _checked(self, name: str) -> Path:
        parts = Path(name).parts
        if not parts or any(not _TABLE_NAME.match(p) for p in parts):
            raise ValueError(f"not a valid file name inside a run: {name!r}")
        return self.root / name

    def write_table(self, name: str, df: Any) -> Path:
        """Write a DataFrame as parquet atomically (``tables/foo.parquet`` or ``scores.parquet``)."""
        path = self._checked(name)
        buffer = io.BytesIO()
        df.to_parquet(buffer, index=False)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def read_table(self, name: str) -> Any:
        import pandas as pd

        path = self._checked(name)
        if not path.exists():
            raise RunStoreError(f"{self.root}: {name} is missing; run the stage that writes it first")
        return pd.read_parquet(path)

    def write_text(self, name: str, text: str) -> Path:
        path = self._checked(name)
        atomic_write_bytes(path, text.encode("utf-8"))
        return path

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_text(name, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def seeds_for(item: ProbeItem, suite_seeds: dict[str, list[int]]) -> list[int]:
    """The seeds an item's images are made with: its own (I2P's published seed) or its suite's.

    A prompt the input screen blocked is never generated: it gets none.
    """
    if item.screening == "blocked":
        return []
    return list(item.seeds) if item.seeds is not None else list(suite_seeds.get(item.suite, []))


def _record_line(record: GenerationRecord) -> bytes:
    return (json.dumps(record.as_dict(), sort_keys=True) + "\n").encode("utf-8")


def _isna(value: Any) -> bool:
    try:
        return value is None or value != value  # NaN is the only value not equal to itself
    except (TypeError, ValueError):
        return False
