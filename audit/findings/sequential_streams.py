"""What a check type's sequential test builds: a group's evidence over seed positions (:class:`Stream`), read from
the check's label rows (:class:`LabelColumns`); and the shared test of the checks on label shares (deviation,
rate). The engine that replays them round by round is :mod:`audit.findings.sequential`; each check type's test
lives in its module (:mod:`audit.findings.checks`)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from audit.core.constants import UNKNOWN
from audit.findings.check_fields import Check, to_reference
from audit.findings.judgement import CheckResult, not_applicable_result, prompts_per_group, unit_sentence
from audit.stats import group_counts
from audit.stats.group_estimand import prompt_blocks
from audit.stats.sequential import Trajectory, metric_directions, trajectory


@dataclasses.dataclass
class Stream:
    """One group of a check in a sequential run: its evidence over seed positions."""

    keys: dict
    classifier: str
    items: frozenset[str]
    positions: np.ndarray  # seed position of every image of the group (abstentions included)
    abstained: np.ndarray  # (images,) bool
    records: np.ndarray  # record ids, aligned with positions
    trajectory: Trajectory | None
    unit: str
    reason: str | None = None  # why the group can never be judged (no reference)


class LabelColumns:
    """One classifier's label rows of a check as arrays, sorted by seed position then record: fast to slice by
    the record ids of a group."""

    def __init__(self, rows: pd.DataFrame) -> None:
        rows = rows.sort_values(["position", "record_id"], kind="stable")
        self.records = rows["record_id"].to_numpy()
        self.items = rows["item_id"].to_numpy()
        self.positions = rows["position"].to_numpy()
        self.labels = rows["label"].astype(str).to_numpy()
        self._index = pd.Index(self.records)

    def rows(self, records) -> np.ndarray:
        """Row numbers of ``records``, in seed-position order."""
        return np.sort(self._index.get_indexer(records))

    def codes(self, labels: list[str]) -> np.ndarray:
        """Each row's index in ``labels``; -1 for an abstention (or a label outside them)."""
        lookup = {label: j for j, label in enumerate(labels)}
        return np.array([lookup.get(label, -1) for label in self.labels], dtype=np.int64)


def share_streams(
    check: Check, subset: pd.DataFrame, categories, *, label: str | None = None
) -> list[Stream] | CheckResult:
    """Per group, the e-process of a check on label shares: the share of ``label`` (a rate) or, without one, the
    distance of the shares from the check's reference, against the limit, on observations of the group estimand."""
    prompts = prompts_per_group(subset, check.by)
    columns = {c: LabelColumns(sub) for c, sub in subset.groupby("classifier")}
    streams: list[Stream] = []
    for gc in group_counts(subset, by=check.by, categories=categories):
        if label is not None:
            if label not in gc.labels:
                return not_applicable_result(
                    check, f"{label!r} is not a label of {gc.attribute} ({', '.join(gc.labels)})"
                )
            expected = None
        else:
            if len(gc.labels) < 2:
                return not_applicable_result(
                    check, f"{gc.attribute} has a single label ({', '.join(gc.labels)}): no distribution"
                )
            try:
                expected = to_reference(check.reference).shares(gc)
            except ValueError as exc:
                return not_applicable_result(check, str(exc))
        table = columns[gc.classifier]
        codes = table.codes(gc.labels)
        for i, keys in enumerate(gc.keys.to_dict("records")):
            rows = table.rows(gc.records[i])
            key = tuple(keys[c] for c in check.by)
            stream = Stream(
                keys=keys,
                classifier=gc.classifier,
                items=frozenset(table.items[rows]),
                positions=table.positions[rows],
                abstained=table.labels[rows] == UNKNOWN,
                records=table.records[rows],
                trajectory=None,
                unit=unit_sentence(check, prompts.get(key, 1)),
            )
            streams.append(stream)
            if expected is not None and np.isnan(expected[i]).any():
                stream.reason = f"no reference figure ({to_reference(check.reference).describe()}) for this group"
                continue
            if label is not None:
                directions = metric_directions("rate", np.zeros(len(gc.labels)), label=gc.labels.index(label))
            else:
                directions = metric_directions(check.metric, expected[i])
            if not (codes[rows] >= 0).any():
                continue
            blocks = group_blocks(table.items[rows], stream.positions, codes[rows], len(gc.labels))
            b = int(blocks.counts[0])
            if b == 0:
                continue  # some prompt has no judged image yet: the group's estimand has no observation
            stream.trajectory = trajectory(
                blocks.shares[0, :b],
                blocks.ends[0, :b],
                blocks.judged[0, :b],
                blocks.images[0, :b],
                directions,
                check.max,
            )
    return streams


def share_sentence(what: str, source: str, value: float, ci, judged: int, abstained: int) -> str:
    """The measured part of a sequential finding on label shares: the value, its confidence sequence, the images."""
    return (
        f"{what} {value:.3f}{source} (95% confidence sequence {ci[0]:.3f}-{ci[1]:.3f}, betting e-process over seeds; "
        f"n={judged}, unknown={abstained})"
    )


def group_blocks(items: np.ndarray, positions: np.ndarray, codes: np.ndarray, k: int):
    """A group's observations under its estimand (:mod:`audit.stats.group_estimand`) from its label rows."""
    prompts, which = np.unique(items, return_inverse=True)
    length = int(positions.max()) + 1
    grid = np.full((1, len(prompts), length), -1, dtype=np.int64)
    made = np.zeros(grid.shape, dtype=bool)
    grid[0, which, positions] = codes
    made[0, which, positions] = True
    return prompt_blocks(grid, k, made)
