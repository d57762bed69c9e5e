"""The scoring stage: every configured classifier over a run's images, into ``scores.parquet``.

Images are read and preprocessed for batch k+1 on a second thread while the
models score batch k; every classifier sees the same decoded images, and each
CLIP classifier encodes an image once for all of its attributes. Scoring runs
under ``torch.inference_mode`` and, on CUDA, autocast to float16.

Outputs, beside the run's other files:

- ``scores.parquet``: long format, one row per (record_id, classifier,
  attribute, label) with ``prob`` (see :mod:`audit.classifiers.base` for the
  ``unknown`` convention);
- ``measurements.parquet``: raw numbers (record_id, classifier, measurement,
  value) such as ITA degrees, Q16 cosines, safety-checker concept scores;
- ``embeddings.parquet``: each image's CLIP embedding (record_id,
  classifier, embedding), read by the diversity statistics;
- ``scoring.json``: the version of every classifier that wrote rows.

Resumable and crash-safe: a (record, classifier) pair that already has rows
is skipped, and results are appended as part files every ``flush_every``
images (time in proportion to the batch, see :class:`ScoreWriter`), merged
into the three tables once at the end; a run killed at any moment keeps every
committed part and scores each (image, classifier) exactly once. The same
:func:`collect_results` turns classifier output into rows here and in the Ray
executor's workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from audit.classifiers.base import Classifier, ImageResult, classifier_class
from audit.core.constants import EMBEDDING_COLUMNS, MEASUREMENT_COLUMNS, SCORE_COLUMNS
from audit.core.device import pick_device
from audit.core.errors import ConfigError, DiffauditError
from audit.core.records import Score
from audit.core.run_store import EMBEDDINGS, MEASUREMENTS, SCORES, SCORING_INFO, RunStore

log = logging.getLogger(__name__)


def make_classifier(
    type_name: str, params: dict[str, Any], *, device: str = "cpu", source: str = "(classifier)", key: str = ""
) -> Classifier:
    """A classifier from its config entry; a bad type or parameter is a ConfigError naming ``source`` and ``key``."""
    from audit.core.schema import parse

    try:
        cls = classifier_class(type_name)
    except KeyError as exc:
        raise ConfigError(f"{source}: {key + '.' if key else ''}type: {exc.args[0]}") from None
    return cls(parse(cls.Params, params, source=source, key=key), device=device)


def load_image(path: str | Path) -> Any:
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def iter_results(
    classifiers: Sequence[Classifier],
    items: Sequence[tuple[str, Any]],
    *,
    batch_size: int = 32,
    load: Callable[[Any], Any] = load_image,
    amp: bool = True,
) -> Iterator[tuple[list[str], list[list[ImageResult]]]]:
    """Score ``items`` (key, source) in batches; yields keys and, per classifier, the batch's results.

    ``load`` turns a source (a path, or already an image) into an RGB PIL image.
    """
    import torch

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    for classifier in classifiers:
        classifier.load()
    batches = [list(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]

    def prepare(batch: list[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
        images = [load(source) for _, source in batch]
        return [key for key, _ in batch], [classifier.prepare(images) for classifier in classifiers]

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="diffaudit-prepare") as pool:
        pending = pool.submit(prepare, batches[0]) if batches else None
        for index in range(len(batches)):
            keys, prepared = pending.result()
            # Read and preprocess the next batch while the models run on this one.
            pending = pool.submit(prepare, batches[index + 1]) if index + 1 < len(batches) else None
            with torch.inference_mode():
                results = []
                for classifier, batch in zip(classifiers, prepared, strict=True):
                    with _autocast(classifier.device, amp):
                        results.append(classifier.predict(batch))
            yield keys, results


def _autocast(device: str, amp: bool) -> Any:
    import torch

    if amp and str(device).startswith("cuda"):
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def score_rows(record_id: str, classifier_id: str, result: ImageResult) -> list[dict[str, Any]]:
    """Long-format score rows of one image."""
    return [
        Score(
            record_id=record_id, classifier=classifier_id, attribute=attribute, label=label, prob=float(prob)
        ).as_dict()
        for attribute, label, prob in result.labels
    ]


@dataclasses.dataclass
class ScoredBatch:
    """The rows a batch of images gave the classifiers, as pyarrow tables: what a worker hands back to be written."""

    images: int
    scores: Any
    measurements: Any
    embeddings: list[Any]  # one table per embedding size (fixed-size float32 arrays)

    def tables(self) -> dict[str, Any]:
        return {SCORES: self.scores, MEASUREMENTS: self.measurements, EMBEDDINGS: self.embeddings}


def collect_results(
    keys: Sequence[str],
    classifier_ids: Sequence[str],
    results: Sequence[Sequence[ImageResult]],
    *,
    needed: Mapping[str, Collection[str]] | None = None,
) -> ScoredBatch:
    """Columns of score, measurement and embedding rows from each classifier's results for ``keys``.

    ``needed`` (key -> classifier ids) leaves out what an earlier run scored already.
    """
    import numpy as np
    import pyarrow as pa

    score_cols: dict[str, list[Any]] = {c: [] for c in SCORE_COLUMNS}
    measure_cols: dict[str, list[Any]] = {c: [] for c in MEASUREMENT_COLUMNS}
    vectors: dict[int, tuple[list[str], list[str], list[Any]]] = {}
    for name, batch_results in zip(classifier_ids, results, strict=True):
        for key, result in zip(keys, batch_results, strict=True):
            if needed is not None and name not in needed.get(key, ()):
                continue
            for attribute, label, prob in result.labels:
                score_cols["record_id"].append(key)
                score_cols["classifier"].append(name)
                score_cols["attribute"].append(attribute)
                score_cols["label"].append(label)
                score_cols["prob"].append(float(prob))
            for measurement, value in result.measurements.items():
                measure_cols["record_id"].append(key)
                measure_cols["classifier"].append(name)
                measure_cols["measurement"].append(measurement)
                measure_cols["value"].append(float(value))
            if result.embedding is not None:
                vector = np.asarray(result.embedding, dtype=np.float32).reshape(-1)
                ids, names, rows = vectors.setdefault(vector.size, ([], [], []))
                ids.append(key)
                names.append(name)
                rows.append(vector)
    embeddings = [
        pa.table(
            dict(
                zip(
                    EMBEDDING_COLUMNS,
                    [
                        pa.array(ids, pa.string()),
                        pa.array(names, pa.string()),
                        pa.FixedSizeListArray.from_arrays(pa.array(np.stack(rows).reshape(-1)), size),
                    ],
                    strict=True,
                )
            )
        )
        for size, (ids, names, rows) in sorted(vectors.items())
    ]
    types = _column_types()
    return ScoredBatch(
        images=len(keys),
        scores=pa.table({c: pa.array(v, types[c]) for c, v in score_cols.items()}),
        measurements=pa.table({c: pa.array(v, types[c]) for c, v in measure_cols.items()}),
        embeddings=embeddings,
    )


def _column_types() -> dict[str, Any]:
    import pyarrow as pa

    return {"prob": pa.float64(), "value": pa.float64()} | {
        c: pa.string() for c in {*SCORE_COLUMNS, *MEASUREMENT_COLUMNS} - {"prob", "value"}
    }


class ScoreWriter:
    """Writes scored batches to the run: a part every ``flush_every`` images, merged once at the end.

    Appending costs time in proportion to the batch, never to what the run
    holds already; :meth:`close` merges the parts into scores.parquet,
    measurements.parquet and embeddings.parquet (see :meth:`RunStore.append_parts`).
    """

    def __init__(self, store: RunStore, *, flush_every: int = 512) -> None:
        self.store = store
        self.flush_every = flush_every
        self._pending: list[ScoredBatch] = []
        self._images = 0

    def add(self, batch: ScoredBatch) -> None:
        self._pending.append(batch)
        self._images += batch.images
        if self._images >= self.flush_every:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        by_size: dict[int, list[Any]] = {}
        for batch in self._pending:
            for table in batch.embeddings:
                by_size.setdefault(table.schema.field("embedding").type.list_size, []).append(table)
        self.store.append_parts(
            {
                SCORES: pa.concat_tables([b.scores for b in self._pending]),
                MEASUREMENTS: pa.concat_tables([b.measurements for b in self._pending]),
                EMBEDDINGS: [pa.concat_tables(tables) for _, tables in sorted(by_size.items())],
            }
        )
        self._pending, self._images = [], 0

    def close(self) -> None:
        """Write what is pending and merge the parts into the tables."""
        self.flush()
        self.store.compact()

    def close_after_error(self) -> None:
        """On the way out of an interrupted stage: keep what was scored if the disk allows it."""
        try:
            self.close()
        except (OSError, DiffauditError) as exc:  # the parts already written stay for --resume
            log.warning("could not save the last scores (%s); rerun to score the rest", exc)


@dataclasses.dataclass(frozen=True)
class ScoringPlan:
    """What a scoring stage has to do: images to score and, per image, the classifiers still missing."""

    todo: list[tuple[str, str]]  # (record_id, image path relative to the run)
    needed: dict[str, list[str]]
    active: list[str]  # classifier ids with anything to do
    total: int  # images in the run (failed ones are not images)


def plan_scoring(store: RunStore, classifier_ids: Sequence[str]) -> ScoringPlan:
    """Which (image, classifier) pairs have no rows yet; read once per stage, never per image."""
    records = sorted((r for r in store.generations() if r.ok), key=lambda r: r.record_id)
    done: set[tuple[str, str]] = set()
    if store.has_table(SCORES):
        scored = store.read_table(SCORES, columns=["record_id", "classifier"]).drop_duplicates()
        done = set(zip(scored["record_id"], scored["classifier"], strict=True))
    todo, needed = [], {}
    for record in records:
        missing = [c for c in classifier_ids if (record.record_id, c) not in done]
        if missing:
            todo.append((record.record_id, record.image_path))
            needed[record.record_id] = missing
    active = [c for c in classifier_ids if any(c in m for m in needed.values())]
    return ScoringPlan(todo=todo, needed=needed, active=active, total=len(records))


def score_run(
    store: Any,
    classifiers: Sequence[Classifier],
    *,
    batch_size: int = 32,
    amp: bool = True,
    flush_every: int = 512,
    progress: Callable[[str, int], Any] | None = None,
) -> dict[str, int]:
    """Score every image of the run in ``store`` that some classifier has not scored yet.

    Returns counts: ``scored`` (images newly scored), ``skipped`` (already
    scored by every classifier) and ``total`` (images in the run).
    """
    plan = plan_scoring(store, [c.classifier_id for c in classifiers])
    if not plan.todo:
        store.compact()  # a stage killed after its last part still ends with merged tables
        return {"scored": 0, "skipped": plan.total, "total": plan.total}
    active = [c for c in classifiers if c.classifier_id in plan.active]
    ids = [c.classifier_id for c in active]
    log.info("%d of %d images to score with %s", len(plan.todo), plan.total, ", ".join(ids))
    for classifier in active:
        classifier.load()  # before recording versions: loading settles the weights fingerprint
    write_versions(store, [_version_entry(c, batch_size=batch_size, amp=amp) for c in active])
    writer = ScoreWriter(store, flush_every=flush_every)
    items = [(key, store.root / path) for key, path in plan.todo]
    bar = progress("scoring", len(items)) if progress else contextlib.nullcontext(None)
    try:
        with bar as advance:
            for keys, results in iter_results(active, items, batch_size=batch_size, amp=amp):
                writer.add(collect_results(keys, ids, results, needed=plan.needed))
                if advance is not None:
                    for _ in keys:
                        advance()
    except BaseException:
        writer.close_after_error()
        raise
    writer.close()
    return {"scored": len(plan.todo), "skipped": plan.total - len(plan.todo), "total": plan.total}


def _version_entry(classifier: Classifier, *, batch_size: int, amp: bool) -> dict[str, Any]:
    entry = classifier.version()
    entry.update(device=classifier.device, batch_size=batch_size, amp=amp and classifier.device.startswith("cuda"))
    return entry


def write_versions(store: Any, entries: Sequence[dict[str, Any]]) -> None:
    """Record the version of every classifier (``classifier.version()`` plus device and batch size) in scoring.json.

    Earlier entries of other classifiers are kept.
    """
    path = store.root / SCORING_INFO
    info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"classifiers": {}}
    for entry in entries:
        entry = dict(entry, updated=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
        name = entry["classifier"]
        previous = info["classifiers"].get(name)
        if previous is not None and _comparable(previous) != _comparable(entry):
            log.warning(
                "%s: the classifier differs from the one that wrote earlier scores; "
                "their rows are kept, delete scores.parquet to rescore everything",
                name,
            )
        info["classifiers"][name] = entry
    store.write_json(SCORING_INFO, info)


def _comparable(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k in ("params", "label_set", "weights_fingerprint", "libraries")}


def build_classifiers(specs: Iterable[Any], *, device: str = "auto", source: str = "(config)") -> list[Classifier]:
    """Classifiers for config entries (objects with ``type`` and ``params``) on one device."""
    device = pick_device(device)
    return [
        make_classifier(spec.type, dict(spec.params), device=device, source=source, key=f"classifiers[{i}]")
        for i, spec in enumerate(specs)
    ]
