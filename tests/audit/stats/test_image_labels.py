import numpy as np
import pandas as pd
import pytest

from audit.core.records import GenerationRecord
from audit.stats import image_labels, label_sets, top_labels
from tests.audit.stats.simulated import make_items, simulate_scores


def test_top_label_is_the_most_probable_and_ties_go_to_unknown_then_the_first_label():
    scores = pd.DataFrame(
        [
            ("r1", "c", "gender", "man", 0.2),
            ("r1", "c", "gender", "woman", 0.7),
            ("r1", "c", "gender", "unknown", 0.1),
            ("r2", "c", "gender", "woman", 0.5),
            ("r2", "c", "gender", "man", 0.5),
            ("r2", "c", "gender", "unknown", 0.0),
            ("r3", "c", "gender", "woman", 0.4),
            ("r3", "c", "gender", "man", 0.2),
            ("r3", "c", "gender", "unknown", 0.4),
        ],
        columns=["record_id", "classifier", "attribute", "label", "prob"],
    )
    top = top_labels(scores.sample(frac=1, random_state=3))
    assert dict(zip(top.record_id, top.label, strict=True)) == {"r1": "woman", "r2": "man", "r3": "unknown"}


def test_labels_join_generations_and_probe_attributes():
    items = make_items({"nurse": 87.9, "doctor": 43.8})
    shares = {items[0].item_id: {"woman": 1.0}, items[1].item_id: {"man": 1.0}}
    scores, records = simulate_scores(items, shares, seeds=3, rng=np.random.default_rng(0))
    stray = pd.DataFrame([("elsewhere-0", "sim:gender", "perceived_gender", "man", 1.0)], columns=scores.columns)
    labels = image_labels(pd.concat([scores, stray]), records, items)
    assert len(labels) == 6  # the stray score belongs to no generation
    nurse = labels[labels.occupation == "nurse"]
    assert set(nurse.label) == {"woman"} and sorted(nurse.seed) == [0, 1, 2]
    assert nurse.reference.iloc[0] == {"pct_women": 87.9}
    assert label_sets(scores) == {("sim:gender", "perceived_gender"): ["man", "unknown", "woman"]}


def test_a_probe_attribute_named_like_a_column_is_prefixed():
    from audit.core.records import ProbeItem

    item = ProbeItem.create(suite="s", prompt="p", attributes={"label": "x", "occupation": "nurse"})
    rec = GenerationRecord(record_id="a-0", item_id=item.item_id, seed=0, generator="g", generator_config="0")
    scores = pd.DataFrame(
        [("a-0", "c", "gender", "man", 1.0)], columns=["record_id", "classifier", "attribute", "label", "prob"]
    )
    labels = image_labels(scores, [rec], [item])
    assert labels.loc[0, "label"] == "man" and labels.loc[0, "item_label"] == "x"


def test_a_score_table_without_its_columns_is_refused_by_name():
    with pytest.raises(ValueError, match="prob"):
        top_labels(pd.DataFrame({"record_id": [], "classifier": [], "attribute": [], "label": []}))
