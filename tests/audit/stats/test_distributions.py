import numpy as np
import pandas as pd

from audit.stats import distributions, image_labels, label_sets
from tests.audit.stats.simulated import make_items, simulate_scores


def _labels(rows):
    return pd.DataFrame(rows, columns=["record_id", "classifier", "attribute", "label", "occupation", "identity"])


def test_shares_exclude_abstentions_which_are_counted_apart():
    rows = [
        (f"r{i}", "c", "gender", lab, "nurse", "x")
        for i, lab in enumerate(["woman"] * 6 + ["man"] * 2 + ["unknown"] * 2)
    ]
    table = distributions(_labels(rows), by=["occupation"])
    woman = table[table.label == "woman"].iloc[0]
    assert (woman["count"], woman["n"], woman["n_unknown"]) == (6, 8, 2)
    assert woman["share"] == 0.75 and woman["interval"] == "wilson"
    assert woman["ci_low"] < 0.75 < woman["ci_high"]
    assert "unknown" not in set(table.label)


def test_a_label_no_image_received_is_a_zero_row_and_three_labels_use_goodman():
    rows = [(f"r{i}", "c", "skin", "light", "nurse", "x") for i in range(5)]
    cats = {("c", "skin"): ["dark", "light", "medium", "unknown"]}
    table = distributions(_labels(rows), by=["occupation"], categories=cats)
    assert table.set_index("label")["count"].to_dict() == {"dark": 0, "light": 5, "medium": 0}
    assert set(table.interval) == {"goodman"}


def test_groups_can_be_intersections_of_probe_attributes():
    rows = []
    for occ in ("nurse", "doctor"):
        for ident in ("a", "b"):
            rows += [(f"{occ}{ident}{i}", "c", "gender", "woman" if i % 2 else "man", occ, ident) for i in range(4)]
    table = distributions(_labels(rows), by=["occupation", "identity"])
    assert len(table) == 2 * 2 * 2
    assert set(table.groupby(["occupation", "identity"])["n"].first()) == {4}
    overall = distributions(_labels(rows), by=[])
    assert overall.set_index("label")["count"].to_dict() == {"man": 8, "woman": 8}


def test_from_a_simulated_score_table():
    items = make_items({"nurse": 87.9, "doctor": 43.8})
    shares = {
        items[0].item_id: {"woman": 0.8, "man": 0.1, "unknown": 0.1},
        items[1].item_id: {"woman": 0.3, "man": 0.7},
    }
    scores, records = simulate_scores(items, shares, seeds=400, rng=np.random.default_rng(1))
    table = distributions(image_labels(scores, records, items), by=["occupation"], categories=label_sets(scores))
    nurse_woman = table[(table.occupation == "nurse") & (table.label == "woman")].iloc[0]
    assert nurse_woman.ci_low <= 0.8 / 0.9 <= nurse_woman.ci_high
    assert 20 < nurse_woman.n_unknown < 60


def test_evidence_lists_each_groups_own_records_even_with_missing_keys():
    from audit.stats import group_counts

    labels = pd.DataFrame(
        {
            "record_id": [f"r{i}" for i in range(12)],
            "classifier": "c",
            "attribute": "a",
            "label": ["x", "y", "unknown"] * 4,
            "pair_id": ["b", None, "a", None, "b", "a", "c", None, "c", "a", "b", "c"],
        }
    )
    (gc,) = group_counts(labels, by=["pair_id"])
    for key, records, counts, unknown in zip(gc.keys.pair_id, gc.records, gc.counts, gc.unknown, strict=True):
        rows = labels[labels.record_id.isin(records)]
        assert len(rows) == 3
        if isinstance(key, str):
            assert set(rows.pair_id) == {key}
        else:
            assert rows.pair_id.isna().all()
        assert counts.sum() + unknown == 3
        assert unknown == (rows.label == "unknown").sum()
