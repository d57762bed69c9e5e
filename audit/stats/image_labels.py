"""Per-image labels: the score table reduced to one label per (image, classifier, attribute), joined to its probe.

The label of an attribute is the one with the highest probability; on a tie
``unknown`` wins (as in classifier validation), then the label that sorts
first, so the result never depends on row order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from audit.core.constants import IMAGE_COLUMNS, RESERVED_COLUMNS, SCORE_COLUMNS, UNKNOWN


def check_scores(scores: pd.DataFrame, *, source: str = "scores") -> None:
    """Raise ValueError naming the missing columns when ``scores`` is not a score table."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")


def label_sets(scores: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """Every label each (classifier, attribute) can give, in sorted order, ``unknown`` included."""
    check_scores(scores)
    sets = scores.groupby(["classifier", "attribute"], sort=True)["label"].unique()
    return {key: sorted(map(str, labels)) for key, labels in sets.items()}


def top_labels(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (record, classifier, attribute): the label with the highest probability."""
    check_scores(scores)
    ordered = scores.assign(_abstains=scores["label"] == UNKNOWN).sort_values(
        ["record_id", "classifier", "attribute", "prob", "_abstains", "label"],
        ascending=[True, True, True, False, False, True],
    )
    top = ordered.drop_duplicates(["record_id", "classifier", "attribute"], keep="first")
    return top.loc[:, list(SCORE_COLUMNS)].reset_index(drop=True)


def probe_table(probes: Iterable[Any]) -> pd.DataFrame:
    """ProbeItems (records or dicts) as one row each, their attributes spread into columns.

    The ``reference`` mapping stays a column of dicts; an attribute whose name
    clashes with a column of the labels table gets the prefix ``item_``.
    """
    rows = []
    for item in probes:
        data = item if isinstance(item, Mapping) else item.as_dict()
        row = {
            "item_id": data["item_id"],
            "suite": data.get("suite"),
            "prompt": data.get("prompt"),
            "template": data.get("template"),
            "pair_id": data.get("pair_id"),
            "group": data.get("group"),
            "reference": dict(data.get("reference") or {}),
        }
        for name, value in (data.get("attributes") or {}).items():
            column = f"item_{name}" if name in RESERVED_COLUMNS else name
            row[column] = value
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["item_id", "suite", "prompt", "template", "pair_id", "group", "reference"])
    return pd.DataFrame(rows)


def image_labels(scores: pd.DataFrame, generations: Iterable[Any], probes: Iterable[Any]) -> pd.DataFrame:
    """The tidy table every statistic starts from.

    One row per (image, classifier, attribute) with columns record_id, item_id,
    seed, classifier, attribute, label, prob, and the probe's suite, prompt,
    template, pair_id, group, reference and attributes. Scores of records that are not
    in ``generations`` are dropped: they belong to no known image.
    """
    gen_rows = [
        {"record_id": g["record_id"], "item_id": g["item_id"], "seed": int(g["seed"])}
        if isinstance(g, Mapping)
        else {"record_id": g.record_id, "item_id": g.item_id, "seed": int(g.seed)}
        for g in generations
    ]
    gens = pd.DataFrame(gen_rows, columns=["record_id", "item_id", "seed"])
    top = top_labels(scores)
    merged = top.merge(gens, on="record_id", how="inner")
    merged = merged.merge(probe_table(probes), on="item_id", how="left")
    first = list(IMAGE_COLUMNS)
    return merged.loc[:, first + [c for c in merged.columns if c not in first]]
