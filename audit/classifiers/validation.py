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
import hashlib
from collections import Counter
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


# Labels a person may give that are not a label of the attribute: the image is set aside, and counted.
NOT_A_PERSON = "not_a_person"
UNSURE = "unsure"
SET_ASIDE = (NOT_A_PERSON, UNSURE)


@dataclasses.dataclass(frozen=True)
class Annotation:
    """One person's label of one image, as a labels file (``diffaudit annotate``) holds it."""

    path: Path
    label: str
    annotator: str
    group: str | None = None
    run: str | None = None  # the run whose images these are (``diffaudit annotate`` writes it)


def annotations(path: str | Path) -> list[Annotation]:
    """Every row of a CSV manifest (``path,label[,group][,annotator][,sha256]``) as an Annotation.

    Paths are relative to the manifest; a ``sha256`` column is checked against the image, so labels never
    silently move to a changed file. Without an ``annotator`` column every row is one person's ("").
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ConfigError(
                f"{path}: manifest needs the columns path and label; missing {', '.join(sorted(missing))}"
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            image = (path.parent / row["path"]).resolve()
            if not image.is_file():
                raise ConfigError(f"{path}: line {line}: path: no such image {row['path']!r}")
            if not row["label"]:
                raise ConfigError(f"{path}: line {line}: label: empty")
            group = row.get("group")
            if group is not None and not group:
                raise ConfigError(f"{path}: line {line}: group: empty (give every image a group, or drop the column)")
            digest = row.get("sha256")
            if digest and hashlib.sha256(image.read_bytes()).hexdigest() != digest:
                raise ConfigError(f"{path}: line {line}: sha256: {row['path']!r} changed since it was labelled")
            rows.append(Annotation(image, row["label"], row.get("annotator") or "", group, row.get("run") or None))
    return rows


def consensus(rows: Sequence[Annotation]) -> tuple[list[LabelledImage], dict[str, int]]:
    """One true label per image from its annotators' labels, and the images set aside, by why.

    An annotator's ``unsure`` is no vote; an image takes the label more than
    half of the remaining votes give it. Images where that label is
    ``not_a_person``, where every annotator was unsure, or where no label has
    a majority, are set aside and counted (``not_a_person``, ``unsure``,
    ``annotators_disagree``).
    """
    votes: dict[Path, list[Annotation]] = {}
    for row in rows:
        votes.setdefault(row.path, []).append(row)
    items, aside = [], {NOT_A_PERSON: 0, UNSURE: 0, "annotators_disagree": 0}
    for image, given in votes.items():
        counted = Counter(r.label for r in given if r.label != UNSURE)
        if not counted:
            aside[UNSURE] += 1
            continue
        label, top = counted.most_common(1)[0]
        if top * 2 <= sum(counted.values()):
            aside["annotators_disagree"] += 1
        elif label == NOT_A_PERSON:
            aside[NOT_A_PERSON] += 1
        else:
            groups = {r.group for r in given}
            items.append(LabelledImage(image, label, given[0].group if len(groups) == 1 else None))
    return items, aside


def _manifest(path: Path) -> list[LabelledImage]:
    return consensus(annotations(path))[0]


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
