"""Label distributions per group: counts, shares and their intervals, abstentions counted apart."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from audit.core.constants import UNKNOWN
from audit.stats.intervals import share_intervals


@dataclasses.dataclass(frozen=True)
class GroupCounts:
    """Counts of one (classifier, attribute) per group: ``counts[g, j]`` images of group g labelled ``labels[j]``."""

    classifier: str
    attribute: str
    keys: pd.DataFrame  # one row per group, the grouping columns
    labels: list[str]  # the categories, ``unknown`` excluded
    counts: np.ndarray  # (groups, labels)
    unknown: np.ndarray  # (groups,) abstentions
    records: list[list[str]]  # record ids per group, the evidence
    references: list[dict]  # the probe's reference mapping per group (of its first image)

    @property
    def n(self) -> np.ndarray:
        """Images per group that got a label other than ``unknown``."""
        return self.counts.sum(axis=1)


def group_counts(
    labels: pd.DataFrame,
    *,
    by: Sequence[str],
    categories: Mapping[tuple[str, str], Sequence[str]] | None = None,
    attributes: Sequence[str] | None = None,
) -> Iterator[GroupCounts]:
    """Count labels per group for each (classifier, attribute) of the labels table.

    ``categories`` gives each (classifier, attribute)'s full label set, so a
    label no image received still counts as 0; without it the labels seen in
    ``labels`` are used.
    """
    by = list(by)
    missing = [c for c in by if c not in labels.columns]
    if missing:
        raise KeyError(f"cannot group by {', '.join(missing)}: not a column of the labels table")
    for (classifier, attribute), sub in labels.groupby(["classifier", "attribute"], sort=True):
        if attributes is not None and attribute not in attributes:
            continue
        cats = list(categories.get((classifier, attribute), ())) if categories else []
        cats = cats or sorted(sub["label"].astype(str).unique())
        cats = [c for c in cats if c != UNKNOWN]
        if not cats:
            continue  # every image abstained: there are no shares to estimate
        frame = sub.assign(_all="all") if not by else sub
        keys_cols = by or ["_all"]
        grouped = frame.groupby(keys_cols, sort=True, dropna=False)
        table = grouped["label"].value_counts().unstack(fill_value=0)
        unknown = table[UNKNOWN].to_numpy() if UNKNOWN in table.columns else np.zeros(len(table), dtype=int)
        counts = table.reindex(columns=cats, fill_value=0).to_numpy()
        # Record ids per group by one sort, in the groups' (sorted) order, as the table's rows are.
        codes = grouped.ngroup().to_numpy()
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(1, len(table)))
        records = np.split(frame["record_id"].to_numpy()[order], bounds)
        if "reference" in frame.columns:
            refs = [r if isinstance(r, dict) else {} for r in grouped["reference"].first().reindex(table.index)]
        else:
            refs = [{} for _ in range(len(table))]
        keys = table.index.to_frame(index=False)
        if not by:
            keys = keys.drop(columns=["_all"])
        yield GroupCounts(
            classifier=str(classifier),
            attribute=str(attribute),
            keys=keys.reset_index(drop=True),
            labels=cats,
            counts=counts.astype(int),
            unknown=np.asarray(unknown, dtype=int),
            records=[r.tolist() for r in records],
            references=refs,
        )


def distributions(
    labels: pd.DataFrame,
    *,
    by: Sequence[str],
    categories: Mapping[tuple[str, str], Sequence[str]] | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Shares of each label per group, with simultaneous intervals.

    One row per (group, classifier, attribute, label) with the grouping
    columns, ``count``, ``n`` (labelled images, abstentions excluded),
    ``n_unknown``, ``share``, ``ci_low``, ``ci_high`` and ``interval`` (the
    method: Wilson for two labels, Goodman's simultaneous intervals for more).
    """
    frames = []
    for gc in group_counts(labels, by=by, categories=categories):
        low, high, method = share_intervals(gc.counts, confidence)
        n = gc.n
        with np.errstate(invalid="ignore", divide="ignore"):
            share = gc.counts / n[:, None]
        g, k = gc.counts.shape
        frame = gc.keys.loc[np.repeat(np.arange(g), k)].reset_index(drop=True)
        frame["classifier"] = gc.classifier
        frame["attribute"] = gc.attribute
        frame["label"] = np.tile(gc.labels, g)
        frame["count"] = gc.counts.ravel()
        frame["n"] = np.repeat(n, k)
        frame["n_unknown"] = np.repeat(gc.unknown, k)
        frame["share"] = share.ravel()
        frame["ci_low"] = low.ravel()
        frame["ci_high"] = high.ravel()
        frame["interval"] = method
        frames.append(frame)
    if not frames:
        columns = [*by, "classifier", "attribute", "label", "count", "n", "n_unknown", "share", "ci_low", "ci_high"]
        return pd.DataFrame(columns=[*columns, "interval"])
    return pd.concat(frames, ignore_index=True)
