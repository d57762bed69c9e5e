"""A check on shares corrected for classifier error speaks only when the correction knows: the guard judges the
matrix over the labels the classifier decides, abstention is a rate per true label, and an interval wider than
the policy allows is not judged — never a pass."""

import numpy as np
import pandas as pd
import pytest

from audit.findings import DeviationCheck, RateCheck, evaluate_check
from audit.stats import corrected_distributions, split_confusion

CLASSIFIER = "skin_tone"
ATTRIBUTE = "monk_group"
LABELS = ["light", "medium", "dark"]
# The shape of the 59 eye labels of issue 29: a classifier that reads faces darker than the eye and abstains
# on a tenth of them. With the abstention column the rates' condition number is 6.7 (the old guard's limit
# was 10, so it was accepted and the gate said PASS); over the decided labels it is 22.
FIFTY_NINE = [[5, 13, 15, 3], [0, 3, 11, 3], [0, 0, 3, 3]]


def _summary(matrix):
    return {
        "classifier": CLASSIFIER,
        "attribute": ATTRIBUTE,
        "labels": LABELS,
        "predicted_labels": [*LABELS, "unknown"],
        "confusion_matrix": matrix,
    }


def _run_labels(counts: dict[str, int]) -> tuple[pd.DataFrame, dict]:
    """One prompt's images with the classifier's decided labels (the labels table of a run)."""
    labels = [label for label, n in counts.items() for _ in range(n)]
    frame = pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(len(labels))],
            "item_id": "i0",
            "seed": range(len(labels)),
            "classifier": CLASSIFIER,
            "attribute": ATTRIBUTE,
            "label": labels,
            "prob": 1.0,
            "suite": "unconditional",
            "prompt": "",
        }
    )
    return frame, {(CLASSIFIER, ATTRIBUTE): [*LABELS, "unknown"]}


def _condition(matrix) -> float:
    rates = np.asarray(matrix, float) / np.sum(matrix, axis=1, keepdims=True)
    singular = np.linalg.svd(rates, compute_uv=False)
    return singular[0] / singular[-1]


def test_the_fifty_nine_label_failure_ends_not_judged_never_pass():
    assert _condition(FIFTY_NINE) < 10 < _condition(np.asarray(FIFTY_NINE)[:, :3])  # the shape of the failure
    labels, categories = _run_labels({"light": 350, "medium": 700, "dark": 980, "unknown": 200})
    validation = {(CLASSIFIER, ATTRIBUTE): _summary(FIFTY_NINE)}
    for check in (
        DeviationCheck(id="parity", attribute=ATTRIBUTE, max=0.1, correct_for_classifier_error=True),
        DeviationCheck(
            id="safety", attribute=ATTRIBUTE, max=0.6, decide="evidence_of_safety", correct_for_classifier_error=True
        ),
        RateCheck(id="dark", attribute=ATTRIBUTE, label="dark", max=0.9, correct_for_classifier_error=True),
    ):
        result = evaluate_check(check, labels, categories, validation=validation)
        (finding,) = result.findings
        assert finding.status == "not_judged" and result.status == "not_judged", finding.summary
        assert "near-singular" in finding.summary and "condition number 22" in finding.summary
    table = corrected_distributions(labels, validation, by=["suite", "prompt"], categories=categories, samples=200)
    assert table["corrected_share"].isna().all() and table["reason"].str.contains("near-singular").all()


def test_a_well_conditioned_correction_from_too_few_labels_is_not_judged_as_too_uncertain():
    few = [[4, 1, 0, 1], [1, 4, 1, 0], [0, 1, 4, 1]]  # condition about 2, but 18 images
    labels, categories = _run_labels({"light": 700, "medium": 700, "dark": 700, "unknown": 100})
    check = DeviationCheck(id="parity", attribute=ATTRIBUTE, max=0.1, correct_for_classifier_error=True)
    (finding,) = evaluate_check(check, labels, categories, validation={(CLASSIFIER, ATTRIBUTE): _summary(few)}).findings
    assert (
        finding.status == "not_judged"
        and "too uncertain" in finding.summary
        and "> max_corrected_width 0.5" in finding.summary
    )
    lenient = DeviationCheck(
        id="parity", attribute=ATTRIBUTE, max=0.1, correct_for_classifier_error=True, max_corrected_width=1.0
    )
    (judged,) = evaluate_check(
        lenient, labels, categories, validation={(CLASSIFIER, ATTRIBUTE): _summary(few)}
    ).findings
    assert judged.status in ("pass", "fail")


def test_uneven_abstention_is_corrected_as_a_rate_per_true_label():
    # True shares 0.5 / 0.3 / 0.2; the classifier is right 90% of the time on what it decides but abstains on
    # 40% of dark faces and 5% of the others, so dark looks rarer among the decided images than it is.
    true = np.array([0.5, 0.3, 0.2])
    decided = np.array([[0.9, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.9]])
    abstain = np.array([0.05, 0.05, 0.4])
    validation_rows = 2000
    matrix = [
        [*(validation_rows * (1 - a) * decided[i]).round().astype(int), int(validation_rows * a)]
        for i, a in enumerate(abstain)
    ]
    seen = (true * (1 - abstain)) @ decided
    n = 20000
    counts = dict(zip(LABELS, (n * seen).round().astype(int), strict=True))
    counts["unknown"] = int(n * (true * abstain).sum())
    labels, categories = _run_labels(counts)
    table = corrected_distributions(
        labels, {(CLASSIFIER, ATTRIBUTE): _summary(matrix)}, by=["prompt"], categories=categories, samples=300
    )
    corrected = table.set_index("label")["corrected_share"]
    observed = table.set_index("label")["observed_share"]
    assert observed["dark"] < 0.15  # among the decided images dark looks rarer than its true 0.2 ...
    assert corrected.loc[LABELS].to_numpy() == pytest.approx(true, abs=0.01)  # ... corrected, it is not
    assert table["condition"].iloc[0] == pytest.approx(_condition(np.asarray(matrix)[:, :3]))


def test_split_confusion_refuses_a_decided_label_no_validation_image_is():
    summary = {
        "labels": ["a", "b"],
        "predicted_labels": ["a", "b", "c", "unknown"],
        "confusion_matrix": [[5, 1, 1, 0], [1, 5, 0, 2]],
    }
    with pytest.raises(ValueError, match="decided c"):
        split_confusion(summary)
    fine = split_confusion({**summary, "confusion_matrix": [[5, 1, 0, 0], [1, 5, 0, 2]]})
    assert fine.decided.tolist() == [[5, 1], [1, 5]] and fine.abstained.tolist() == [0, 2]
