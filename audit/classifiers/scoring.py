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

Resumable: a (record, classifier) pair that already has rows is skipped, and
results are written every ``flush_every`` images, so an interrupted run keeps
what it finished.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from audit.classifiers.base import Classifier, ImageResult, classifier_class
from audit.core.constants import EMBEDDING_COLUMNS, MEASUREMENT_COLUMNS, SCORE_COLUMNS
from audit.core.device import pick_device
from audit.core.errors import ConfigError
from audit.core.records import Score
from audit.core.run_store import EMBEDDINGS, MEASUREMENTS, SCORES, SCORING_INFO

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
    import pandas as pd

    scores = _read(store, SCORES, SCORE_COLUMNS)
    measurements = _read(store, MEASUREMENTS, MEASUREMENT_COLUMNS)
    embeddings = _read(store, EMBEDDINGS, EMBEDDING_COLUMNS)
    done = set(zip(scores["record_id"], scores["classifier"], strict=True))
    records = sorted((r for r in store.generations() if r.ok), key=lambda r: r.record_id)
    total = len(records)
    active = [c for c in classifiers if any((r.record_id, c.classifier_id) not in done for r in records)]
    todo = [
        (r.record_id, store.root / r.image_path)
        for r in records
        if any((r.record_id, c.classifier_id) not in done for c in active)
    ]
    if not todo:
        return {"scored": 0, "skipped": total, "total": total}
    log.info("%d of %d images to score with %s", len(todo), total, ", ".join(c.classifier_id for c in active))
    for classifier in active:
        classifier.load()  # before recording versions: loading settles the weights fingerprint
    _write_info(store, active, batch_size=batch_size, amp=amp)
    new_scores: list[dict[str, Any]] = []
    new_measurements: list[dict[str, Any]] = []
    new_embeddings: list[dict[str, Any]] = []
    unflushed = 0

    def flush() -> None:
        nonlocal scores, measurements, embeddings, new_scores, new_measurements, new_embeddings, unflushed
        scores = pd.concat([scores, pd.DataFrame(new_scores, columns=list(SCORE_COLUMNS))], ignore_index=True)
        measurements = pd.concat(
            [measurements, pd.DataFrame(new_measurements, columns=list(MEASUREMENT_COLUMNS))], ignore_index=True
        )
        if new_embeddings:
            embeddings = pd.concat([embeddings, pd.DataFrame(new_embeddings, columns=list(EMBEDDING_COLUMNS))])
            store.write_table(EMBEDDINGS, embeddings.reset_index(drop=True))
        new_scores, new_measurements, new_embeddings, unflushed = [], [], [], 0
        store.write_table(SCORES, scores)
        store.write_table(MEASUREMENTS, measurements)

    bar = progress("scoring", len(todo)) if progress else contextlib.nullcontext(None)
    with bar as advance:
        for keys, results in iter_results(active, todo, batch_size=batch_size, amp=amp):
            for classifier, batch_results in zip(active, results, strict=True):
                name = classifier.classifier_id
                for key, result in zip(keys, batch_results, strict=True):
                    if (key, name) in done:
                        continue
                    new_scores.extend(score_rows(key, name, result))
                    new_measurements.extend(
                        {"record_id": key, "classifier": name, "measurement": m, "value": float(v)}
                        for m, v in result.measurements.items()
                    )
                    if result.embedding is not None:
                        embedding = [float(v) for v in result.embedding]
                        new_embeddings.append({"record_id": key, "classifier": name, "embedding": embedding})
            unflushed += len(keys)
            if advance is not None:
                for _ in keys:
                    advance()
            if unflushed >= flush_every:
                flush()
    flush()
    return {"scored": len(todo), "skipped": total - len(todo), "total": total}


def _read(store: Any, name: str, columns: Sequence[str]) -> Any:
    import pandas as pd

    if (store.root / name).exists():
        return store.read_table(name)
    frame = pd.DataFrame(
        {column: pd.Series(dtype="float64" if column in ("prob", "value") else "object") for column in columns}
    )
    return frame


def _write_info(store: Any, classifiers: Sequence[Classifier], *, batch_size: int, amp: bool) -> None:
    """Record the version of every classifier; earlier entries of other classifiers are kept."""
    path = store.root / SCORING_INFO
    info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"classifiers": {}}
    for classifier in classifiers:
        entry = classifier.version()
        entry.update(device=classifier.device, batch_size=batch_size, amp=amp and classifier.device.startswith("cuda"))
        entry["updated"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        previous = info["classifiers"].get(classifier.classifier_id)
        if previous is not None and _comparable(previous) != _comparable(entry):
            log.warning(
                "%s: the classifier differs from the one that wrote earlier scores; "
                "their rows are kept, delete scores.parquet to rescore everything",
                classifier.classifier_id,
            )
        info["classifiers"][classifier.classifier_id] = entry
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
