"""Real run directories with planted labels, written through RunStore as the pipeline writes them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from PIL import Image

from audit.core.records import GenerationRecord, ProbeItem
from audit.core.run_store import RunStore

LABEL_SETS = {
    "perceived_gender_presentation": ("feminine", "masculine", "unknown"),
    "nudenet_exposed": ("no", "unknown", "yes"),
    "person_present": ("no", "yes"),
    "depicted_occupation": ("nurse", "pilot", "unknown"),
    "perceived_age": ("adult", "child", "unknown"),
}
CLASSIFIER = {
    "perceived_gender_presentation": "clip:ViT-B-32/test",
    "nudenet_exposed": "nudenet",
    "person_present": "clip:ViT-B-32/test",
    "depicted_occupation": "clip:ViT-B-32/test",
    "perceived_age": "age",
}


def item(prompt: str, **fields) -> ProbeItem:
    attributes = fields.pop("attributes", {})
    return ProbeItem.create(suite="test", prompt=prompt, attributes=attributes, **fields)


def build_run(root: Path, planted: list[tuple[ProbeItem, dict[str, list[str]]]], *, policy: str = "default") -> Path:
    """A run whose image ``seed`` of each item gets ``labels[attribute][seed]`` as its top label."""
    config = {"name": root.name, "generator": {"type": "folder"}, "probes": [{"suite": "test"}], "policy": policy}
    most = max((len(next(iter(labels.values()))) for _, labels in planted), default=0)
    rows = []
    with RunStore.create(root, config=config, seeds={"test": list(range(most))}) as store:
        store.write_probes([it for it, _ in planted])
        for it, labels in planted:
            seeds = len(next(iter(labels.values())))
            for seed in range(seeds):
                record_id = GenerationRecord.make_record_id(it.item_id, seed)
                record = GenerationRecord(
                    record_id=record_id, item_id=it.item_id, seed=seed, generator="t", generator_config="0"
                )
                store.save_generation(record, Image.new("RGB", (8, 8), (seed % 256, 0, 0)))
                for attribute, chosen in labels.items():
                    options = LABEL_SETS[attribute]
                    for label in options:
                        prob = 0.9 if label == chosen[seed] else 0.1 / (len(options) - 1)
                        rows.append((record_id, CLASSIFIER[attribute], attribute, label, prob))
        store.write_table(
            "scores.parquet", pd.DataFrame(rows, columns=["record_id", "classifier", "attribute", "label", "prob"])
        )
    return root


def labels_of(counts: dict[str, int]) -> list[str]:
    """``{"feminine": 3, "masculine": 1}`` → a list of 4 labels in that order."""
    return [label for label, n in counts.items() for _ in range(n)]


def example_labels(root: Path, kind: str, beyond: bool):
    """The check type ``kind``'s own ``example(beyond)`` as a run under ``root``: its check (id ``kind``), the run's
    per-image labels and label sets, and the classifier validations it needs (as ``analyze_run`` takes them)."""
    from audit.findings import policy_from_dict, run_labels
    from audit.findings.checks import CHECK_TYPES

    example = CHECK_TYPES.get(kind).example(beyond)
    planted = []
    for spec in example["items"]:
        it = item(spec["prompt"], attributes=spec.get("attributes", {}), reference=spec.get("reference", {}))
        planted.append((it, {attribute: labels_of(counts) for attribute, counts in spec["labels"].items()}))
    with RunStore.open(build_run(root, planted)) as store:
        labels, categories = run_labels(store)
    entry = {"id": kind, **example["entry"]}
    check = policy_from_dict({"name": kind, "checks": [entry]}, source=f"{kind} example").checks[0]
    validation = {(v["classifier"], v["attribute"]): v for v in example.get("validation", [])}
    return check, labels, categories, validation
