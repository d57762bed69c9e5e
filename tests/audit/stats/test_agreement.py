"""Annotator agreement against published worked examples."""

import pytest

from audit.stats import annotator_agreement, cohen_kappa, fleiss_kappa


def test_cohen_kappa_of_the_textbook_two_by_two_table():
    # 50 proposals read by two people: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no; P_o = 0.7, P_e = 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)
    assert cohen_kappa(["x", "x"], ["x", "x"]) is None  # chance agreement is certain: kappa says nothing


def test_fleiss_kappa_of_fleiss_1971_example():
    # The 10 subjects x 14 raters x 5 categories example (Fleiss 1971; kappa 0.210).
    rows = [
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ]
    ratings = [{str(j): c for j, c in enumerate(r) if c} for r in rows]
    assert fleiss_kappa(ratings) == pytest.approx(0.2099, abs=1e-4)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([{"a": 2}, {"a": 3}])


def test_agreement_is_over_the_images_every_annotator_labelled():
    labels = {
        "ann": {"1": "light", "2": "dark", "3": "medium", "4": "dark"},
        "bea": {"1": "light", "2": "dark", "3": "light"},
        "cai": {"1": "light", "2": "dark", "3": "medium", "5": "light"},
    }
    out = annotator_agreement(labels)
    assert out["method"] == "Fleiss' kappa" and out["images_compared"] == 3 and out["all_agree"] == pytest.approx(2 / 3)
    assert annotator_agreement({"ann": labels["ann"]})["kappa"] is None
