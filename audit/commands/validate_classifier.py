"""``diffaudit validate-classifier``: how often a classifier is right on labelled images, as a validation file.

The file is what a run config attaches to a classifier (``validation:``) and
what ``diffaudit analyze --validation`` reads: the classifier's version and
id, the attribute, the confusion matrix (rows true labels, columns predicted
labels with ``unknown`` last), accuracy and abstention overall, per true label
and per true group (``by_group``, with the largest gap between groups in
``group_gaps``), and a description of the data it was measured on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.classifiers.base import Classifier
from audit.classifiers.scoring import make_classifier
from audit.classifiers.validation import UNSURE, annotations, consensus, labelled_images, predicted_labels
from audit.commands.exit_codes import PASS
from audit.commands.options import key_value_pairs
from audit.core.device import pick_device
from audit.core.errors import ConfigError
from audit.core.schema import load_yaml
from audit.stats.agreement import annotator_agreement
from audit.stats.confusion import confusion_summary

log = logging.getLogger(__name__)


def validate_classifier(
    classifier: Classifier,
    source: str | Path,
    attribute: str,
    *,
    batch_size: int = 32,
    label_map: dict[str, str] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Run ``classifier`` on labelled images and summarise its decisions on ``attribute``.

    ``label_map`` renames folder/manifest labels to the classifier's labels
    (for example ``{"women": "feminine"}``). The result holds the classifier's
    version, the attribute, the source, a description of the data and
    :func:`~audit.stats.confusion_summary` (per group when the manifest has a
    ``group`` column, else per true label).
    """
    items = labelled_images(source)
    people = labelled_by(source)
    label_map = label_map or {}
    truths = [label_map.get(item.label, item.label) for item in items]
    grouped = [item.group for item in items]
    if any(g is not None for g in grouped) and any(g is None for g in grouped):
        raise ConfigError(f"{source}: some images have a group and some do not")
    groups = None if grouped and grouped[0] is None else [str(g) for g in grouped]
    predicted = predicted_labels(classifier, items, attribute, batch_size=batch_size)
    return validation_summary(
        classifier,
        attribute,
        truths=truths,
        predicted=predicted,
        groups=groups,
        source=str(source),
        description=description,
        people=people,
    )


def labelled_by(source: str | Path) -> dict[str, Any] | None:
    """Who labelled a CSV manifest's images: annotators and their agreement (kappa), images set aside by why,
    and the run the images come from; None for a folder of labelled images or a manifest without annotators."""
    from collections import Counter

    if not Path(source).is_file():
        return None
    rows = annotations(source)
    if not any(row.annotator for row in rows):
        return None
    _, aside = consensus(rows)
    given: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.label != UNSURE:
            given.setdefault(row.annotator, {})[str(row.path)] = row.label
    runs = sorted({row.run for row in rows if row.run})
    return {
        "labels_given": len(rows),
        "images": len({row.path for row in rows}),
        "labels_by_annotator": dict(sorted(Counter(row.annotator for row in rows).items())),
        "agreement": annotator_agreement(given),
        "set_aside": aside,
        "runs": runs,
    }


def validation_summary(
    classifier: Classifier,
    attribute: str,
    *,
    truths: Sequence[str],
    predicted: Sequence[str],
    groups: Sequence[str] | None,
    source: str,
    description: str = "",
    people: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The validation file's content for decisions already made: classifier version, attribute, data, statistics.

    ``people``: who labelled the images (:func:`labelled_by`), kept under ``data.labelled_by``.
    """
    data = describe_data(source, truths, groups, description)
    if people is not None:
        data["labelled_by"] = people
    return {
        "classifier": classifier.version(),
        "attribute": attribute,
        "source": source,
        "data": data,
        **confusion_summary(truths, predicted, groups),
    }


def describe_data(source: str | Path, truths: Sequence[str], groups: Sequence[str] | None, text: str) -> dict[str, Any]:
    """What the validation images were: where from, how many, per label and per group, and the user's description."""
    from collections import Counter

    return {
        "source": str(source),
        "description": text,
        "n_images": len(truths),
        "labels": dict(sorted(Counter(truths).items())),
        "groups": dict(sorted(Counter(groups).items())) if groups is not None else None,
    }


def classifier_from_options(spec: str, assignments: Sequence[str] = (), *, device: str = "cpu") -> Classifier:
    """A classifier from the command line: a type name or a YAML file (``type:`` plus parameters),
    with ``key=value`` overrides (values read as YAML, so ``pretrained=null`` is None)."""
    import yaml

    path = Path(spec)
    if path.suffix in (".yaml", ".yml"):
        data = load_yaml(path)
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise ConfigError(f"{path}: type: expected a classifier type name, got {data!r}"[:200])
        params, source = {k: v for k, v in data.items() if k != "type"}, str(path)
        type_name = data["type"]
    else:
        params, source, type_name = {}, "--classifier", spec
    for key, value in key_value_pairs(assignments, "--param", "key=value", empty_value=True).items():
        params[key.strip()] = yaml.safe_load(value)
    return make_classifier(type_name, params, device=pick_device(device), source=source)


def parse_label_map(pairs: Sequence[str]) -> dict[str, str]:
    """``data=classifier`` pairs from the command line."""
    return key_value_pairs(pairs, "--map", "data_label=classifier_label")


def validate_command(
    data: Path,
    classifier: str,
    attribute: str,
    *,
    params: Sequence[str] = (),
    label_map: Sequence[str] = (),
    out: Path = Path("validation.json"),
    batch_size: int = 32,
    device: str = "auto",
    description: str = "",
) -> tuple[list[str], int]:
    """Validate a classifier given on the command line and write the validation file to ``out``."""
    model = classifier_from_options(classifier, params, device=device)
    result = validate_classifier(
        model,
        data,
        attribute,
        batch_size=batch_size,
        label_map=parse_label_map(label_map),
        description=description,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    accuracy = result["accuracy"]
    low, high = accuracy["ci95"]
    log.info("accuracy %.3f (95%% CI %.3f-%.3f) on %d images", accuracy["value"], low, high, result["n_images"])
    lines = [f"validation: {out}", f"classifier: {result['classifier']['classifier']}  attribute: {attribute}"]
    people = result["data"].get("labelled_by")
    if people:
        agreement = people["agreement"]
        kappa = f", {agreement['method']} {_fmt(agreement['kappa'])} on {agreement['images_compared']} images" if agreement["kappa"] is not None else ""
        aside = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in people["set_aside"].items() if v)
        lines.append(
            f"labelled by {len(agreement['annotators'])} annotator(s){kappa}; {result['n_images']} images used"
            + (f"; set aside: {aside}" if aside else "")
        )
    for group, figures in result["by_group"].items():
        lines.append(
            f"  {result['group_by']} {group}: n={figures['n_images']} "
            f"accuracy={_fmt(figures['accuracy']['value'])} abstention={_fmt(figures['abstention']['value'])}"
        )
    return lines, PASS


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
