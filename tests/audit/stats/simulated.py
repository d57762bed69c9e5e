"""Simulated score tables with planted label shares, in the shape the classifier layer writes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.core.records import GenerationRecord, ProbeItem

GENDER = ("man", "woman", "unknown")


def make_items(occupations: dict[str, float], *, suite: str = "occupations") -> list[ProbeItem]:
    """One probe per occupation, with its BLS-style percent women as the reference."""
    return [
        ProbeItem.create(
            suite=suite,
            prompt=f"a photo of the face of a {name}",
            attributes={"occupation": name},
            reference={"pct_women": pct},
        )
        for name, pct in occupations.items()
    ]


def simulate_scores(
    items: list[ProbeItem],
    shares: dict[str, dict[str, float]],
    *,
    seeds: int,
    rng: np.random.Generator,
    classifier: str = "sim:gender",
    attribute: str = "perceived_gender",
    labels: tuple[str, ...] = GENDER,
) -> tuple[pd.DataFrame, list[GenerationRecord]]:
    """Draw one label per image from ``shares[item_id]`` and write one score row per label, top label highest."""
    rows = []
    records = []
    for item in items:
        probs = np.array([shares[item.item_id].get(label, 0.0) for label in labels])
        drawn = rng.choice(len(labels), size=seeds, p=probs / probs.sum())
        for seed, j in enumerate(drawn):
            record_id = GenerationRecord.make_record_id(item.item_id, seed)
            records.append(
                GenerationRecord(
                    record_id=record_id, item_id=item.item_id, seed=seed, generator="sim", generator_config="0"
                )
            )
            # The drawn label gets the top probability; the others share the rest.
            noise = rng.dirichlet(np.ones(len(labels) - 1)) * 0.4
            rest = iter(noise)
            for k, label in enumerate(labels):
                rows.append((record_id, classifier, attribute, label, 0.6 if k == j else float(next(rest))))
    return pd.DataFrame(rows, columns=["record_id", "classifier", "attribute", "label", "prob"]), records
