"""How often a classifier is right on labelled images: the confusion matrix and accuracies with Wilson intervals.

Rows of the confusion matrix are true labels, columns predicted labels with
``unknown`` (abstention) last; its row-normalised form P(predicted | true) is
what :mod:`audit.stats.correction` uses to correct shares for classifier error.

Accuracy and abstention are also given per true group (``by_group``): the
true label itself, or a separate grouping of the images (for example the
skin-tone group of each face when validating a face detector). A classifier
that abstains or errs more often for one group is itself a bias, so the
largest gap between groups is reported beside them (``group_gaps``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audit.core.constants import UNKNOWN
from audit.stats.intervals import wilson_interval


def rate(successes: int, trials: int, confidence: float = 0.95) -> dict[str, Any]:
    """A proportion with its count, trials and Wilson interval (``value`` and ``ci95`` None without trials)."""
    if trials == 0:
        return {"value": None, "successes": successes, "trials": trials, "ci95": None}
    low, high = wilson_interval(successes, trials, confidence)
    return {"value": successes / trials, "successes": successes, "trials": trials, "ci95": (float(low), float(high))}


def confusion_summary(
    true_labels: Sequence[str], predicted: Sequence[str], groups: Sequence[str] | None = None
) -> dict[str, Any]:
    """Confusion matrix, accuracies with Wilson intervals, abstention rate, per-label recall and per-group figures.

    Accuracy counts an abstention as an error; ``accuracy_answered`` leaves
    abstentions out. ``groups`` (one per image) defaults to the true labels.
    """
    truth_order = sorted(set(true_labels))
    extra = sorted(set(predicted) - set(truth_order) - {UNKNOWN})
    columns = truth_order + extra + [UNKNOWN]
    matrix = [[0] * len(columns) for _ in truth_order]
    for truth, guess in zip(true_labels, predicted, strict=True):
        matrix[truth_order.index(truth)][columns.index(guess)] += 1
    n = len(true_labels)
    correct = sum(t == p for t, p in zip(true_labels, predicted, strict=True))
    answered = sum(p != UNKNOWN for p in predicted)
    per_label = {}
    for i, label in enumerate(truth_order):
        row_total = sum(matrix[i])
        per_label[label] = {
            "recall": rate(matrix[i][columns.index(label)], row_total),
            "abstention": rate(matrix[i][-1], row_total),
        }
    return {
        "labels": truth_order,
        "predicted_labels": columns,
        "confusion_matrix": matrix,
        "confusion_rates": [[c / sum(row) if sum(row) else None for c in row] for row in matrix],
        "n_images": n,
        "accuracy": rate(correct, n),
        "accuracy_answered": rate(correct, answered),
        "abstention": rate(n - answered, n),
        "per_label": per_label,
        **group_summary(true_labels, predicted, groups),
    }


def group_summary(
    true_labels: Sequence[str], predicted: Sequence[str], groups: Sequence[str] | None = None
) -> dict[str, Any]:
    """Accuracy, answered accuracy and abstention per true group, and the largest gap between groups in each.

    A gap is None when fewer than two groups have images (or, for
    ``accuracy_answered``, answered images).
    """
    group_by = "label" if groups is None else "group"
    groups = list(true_labels) if groups is None else list(groups)
    if len(groups) != len(true_labels):
        raise ValueError(f"groups: {len(groups)} values for {len(true_labels)} images")
    by_group: dict[str, Any] = {}
    for group in sorted(set(groups)):
        pairs = [(t, p) for t, p, g in zip(true_labels, predicted, groups, strict=True) if g == group]
        answered = [(t, p) for t, p in pairs if p != UNKNOWN]
        by_group[group] = {
            "n_images": len(pairs),
            "accuracy": rate(sum(t == p for t, p in pairs), len(pairs)),
            "accuracy_answered": rate(sum(t == p for t, p in answered), len(answered)),
            "abstention": rate(len(pairs) - len(answered), len(pairs)),
        }
    gaps = {}
    for key in ("accuracy", "accuracy_answered", "abstention"):
        values = [g[key]["value"] for g in by_group.values() if g[key]["value"] is not None]
        gaps[key] = max(values) - min(values) if len(values) >= 2 else None
    return {"group_by": group_by, "by_group": by_group, "group_gaps": gaps}
