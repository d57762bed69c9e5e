"""Classifier validation: run a classifier on labelled images and report how often it is right.

Labelled images come as a folder with one sub-folder per true label
(``faces/feminine/*.png``) or as a CSV manifest with columns ``path`` and
``label`` (paths relative to the manifest). The result — written as JSON by
``diffaudit validate-classifier`` — holds the confusion matrix (rows: true
label, columns: predicted label, ``unknown`` included), its row-normalised
form P(predicted | true) that the statistics layer uses to correct shares,
and accuracies with Wilson 95% intervals: over all images (abstention counts
as an error), over the answered ones, and per true label, plus the abstention rate.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.classifiers.base import UNKNOWN, Classifier
from audit.errors import ConfigError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclasses.dataclass(frozen=True)
class LabelledImage:
    path: Path
    label: str


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
            items.append(LabelledImage(image, row["label"]))
    return items


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (scipy's binomtest); None without trials."""
    if trials == 0:
        return None
    from scipy.stats import binomtest

    ci = binomtest(successes, trials).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def _rate(successes: int, trials: int) -> dict[str, Any]:
    return {
        "value": successes / trials if trials else None,
        "successes": successes,
        "trials": trials,
        "ci95": wilson_interval(successes, trials),
    }


def confusion_summary(true_labels: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Confusion matrix, accuracies with Wilson intervals and abstention rate for paired labels."""
    truth_order = sorted(set(true_labels))
    extra = sorted(set(predicted) - set(truth_order) - {UNKNOWN})
    columns = truth_order + extra + [UNKNOWN]
    matrix = [[0] * len(columns) for _ in truth_order]
    for truth, guess in zip(true_labels, predicted, strict=True):
        matrix[truth_order.index(truth)][columns.index(guess)] += 1
    n = len(true_labels)
    correct = sum(t == p for t, p in zip(true_labels, predicted, strict=True))
    answered = sum(p != UNKNOWN for p in predicted)
    abstained = n - answered
    per_label = {}
    for i, label in enumerate(truth_order):
        row_total = sum(matrix[i])
        per_label[label] = {
            "recall": _rate(matrix[i][columns.index(label)], row_total),
            "abstention": _rate(matrix[i][-1], row_total),
        }
    return {
        "labels": truth_order,
        "predicted_labels": columns,
        "confusion_matrix": matrix,
        "confusion_rates": [[c / sum(row) if sum(row) else None for c in row] for row in matrix],
        "n_images": n,
        "accuracy": _rate(correct, n),
        "accuracy_answered": _rate(correct, answered),
        "abstention": _rate(abstained, n),
        "per_label": per_label,
    }


def validate_classifier(
    classifier: Classifier,
    source: str | Path,
    attribute: str,
    *,
    batch_size: int = 32,
    label_map: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``classifier`` on labelled images and summarise its decisions on ``attribute``.

    ``label_map`` renames folder/manifest labels to the classifier's labels
    (for example ``{"women": "feminine"}``).
    """
    from audit.classifiers.scoring import iter_results

    items = labelled_images(source)
    label_map = label_map or {}
    truths = {str(i): label_map.get(item.label, item.label) for i, item in enumerate(items)}
    predicted: dict[str, str] = {}
    seen_attributes: set[str] = set()
    pairs = [(str(i), item.path) for i, item in enumerate(items)]
    for keys, (results,) in iter_results([classifier], pairs, batch_size=batch_size):
        for key, result in zip(keys, results, strict=True):
            rows = [(label, prob) for name, label, prob in result.labels if name == attribute]
            seen_attributes.update(name for name, _, _ in result.labels)
            if rows:
                # The decided label: highest prob, ``unknown`` winning ties (see base.py).
                predicted[key] = max(rows, key=lambda r: (r[1], r[0] == UNKNOWN))[0]
    if len(predicted) != len(items):
        raise ConfigError(
            f"classifier {classifier.classifier_id} has no attribute {attribute!r}; "
            f"it reports: {', '.join(sorted(seen_attributes))}"
        )
    keys = [str(i) for i in range(len(items))]
    summary = confusion_summary([truths[k] for k in keys], [predicted[k] for k in keys])
    return {"classifier": classifier.version(), "attribute": attribute, "source": str(source), **summary}


def classifier_from_options(spec: str, assignments: Sequence[str] = (), *, device: str = "cpu") -> Classifier:
    """A classifier from the command line: a type name or a YAML file (``type:`` plus parameters),
    with ``key=value`` overrides (values read as YAML, so ``pretrained=null`` is None)."""
    import yaml

    from audit.classifiers.base import pick_device
    from audit.classifiers.scoring import make_classifier
    from audit.schema import load_yaml

    path = Path(spec)
    if path.suffix in (".yaml", ".yml"):
        data = load_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ConfigError(f"{path}: type: expected a classifier type name, got {data!r}"[:200])
        params, source = {k: v for k, v in data.items() if k != "type"}, str(path)
        type_name = data["type"]
    else:
        params, source, type_name = {}, "--classifier", spec
    for assignment in assignments:
        key, sep, value = assignment.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param: expected key=value, got {assignment!r}")
        params[key.strip()] = yaml.safe_load(value)
    return make_classifier(type_name, params, device=pick_device(device), source=source)


def parse_label_map(pairs: Sequence[str]) -> dict[str, str]:
    """``data=classifier`` pairs from the command line."""
    mapping = {}
    for pair in pairs:
        data_label, sep, classifier_label = pair.partition("=")
        if not sep or not data_label or not classifier_label:
            raise ConfigError(f"--map: expected data_label=classifier_label, got {pair!r}")
        mapping[data_label] = classifier_label
    return mapping
