"""Classifier validation data: labelled images, and a classifier's decisions on them.

Labelled images come as a folder with one sub-folder per true label
(``faces/feminine/*.png``) or as a CSV manifest with columns ``path`` and
``label`` (paths relative to the manifest) and optionally ``group``: the true
group each image belongs to (for example its skin-tone group), by which
accuracy and abstention are also reported. :func:`predicted_labels` runs a
classifier over them and returns its decided label per image; the
statistics of those decisions (confusion matrix, accuracies with
intervals) are :func:`audit.stats.confusion_summary`, and
``diffaudit validate-classifier`` (:mod:`audit.commands.validate_classifier`)
puts the two together.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path

from audit.classifiers.base import Classifier
from audit.classifiers.scoring import iter_results
from audit.core.constants import UNKNOWN
from audit.core.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclasses.dataclass(frozen=True)
class LabelledImage:
    """An image, its true label and (optionally) the true group it belongs to."""

    path: Path
    label: str
    group: str | None = None


def labelled_images(source: str | Path) -> list[LabelledImage]:
    """Labelled images from a folder of label sub-folders or a CSV manifest (``path,label``)."""
    source = Path(source)
    if source.is_dir():
        items = [
            LabelledImage(path, folder.name)
            for folder in sorted(p for p in source.iterdir() if p.is_dir())
            for path in sorted(folder.iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
    elif source.is_file():
        items = _manifest(source)
    else:
        raise ConfigError(f"{source}: no such folder or manifest")
    if not items:
        raise ConfigError(f"{source}: no labelled images found (expected <label>/<image> or a path,label CSV)")
    return items


def _manifest(path: Path) -> list[LabelledImage]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(
                f"{path}: manifest needs the columns path and label; missing {', '.join(sorted(missing))}"
            )
        items = []
        for line, row in enumerate(reader, start=2):
            image = (path.parent / row["path"]).resolve()
            if not image.is_file():
                raise ConfigError(f"{path}: line {line}: path: no such image {row['path']!r}")
            if not row["label"]:
                raise ConfigError(f"{path}: line {line}: label: empty")
            group = row.get("group")
            if group is not None and not group:
                raise ConfigError(f"{path}: line {line}: group: empty (give every image a group, or drop the column)")
            items.append(LabelledImage(image, row["label"], group))
    return items


def predicted_labels(
    classifier: Classifier, items: Sequence[LabelledImage], attribute: str, *, batch_size: int = 32
) -> list[str]:
    """The label ``classifier`` decides for ``attribute`` on each image, in order (``unknown`` when it abstains).

    The decided label is the one with the highest probability, ``unknown``
    winning ties (see :mod:`audit.classifiers.base`). A classifier without
    ``attribute`` is a ConfigError naming the attributes it has.
    """
    predicted: dict[str, str] = {}
    seen_attributes: set[str] = set()
    pairs = [(str(i), item.path) for i, item in enumerate(items)]
    for keys, (results,) in iter_results([classifier], pairs, batch_size=batch_size):
        for key, result in zip(keys, results, strict=True):
            rows = [(label, prob) for name, label, prob in result.labels if name == attribute]
            seen_attributes.update(name for name, _, _ in result.labels)
            if rows:
                predicted[key] = max(rows, key=lambda r: (r[1], r[0] == UNKNOWN))[0]
    if len(predicted) != len(items):
        raise ConfigError(
            f"classifier {classifier.classifier_id} has no attribute {attribute!r}; "
            f"it reports: {', '.join(sorted(seen_attributes))}"
        )
    return [predicted[str(i)] for i in range(len(items))]
