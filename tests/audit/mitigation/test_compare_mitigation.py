"""diffaudit compare on a run and its mitigated twin: paired changes with intervals, the costs, and the report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.commands.compare import compare_command
from audit.core.run_store import RunStore
from reports import build_digest, render_markdown, write_report
from tests.audit.findings.run_builder import build_run, item, labels_of

GENDER = "perceived_gender_presentation"
NURSE = item("a photo of a nurse", attributes={"occupation": "nurse"})
PILOT = item("a photo of a pilot", attributes={"occupation": "pilot"})


def _run(root, nurse_feminine: int, *, seeds: int = 40, cue_lost: int = 0, moved: float = 0.0):
    """Nurse and pilot prompts; the nurse's perceived gender as given; the occupation cue lost in some images."""
    planted = []
    for it, feminine in ((NURSE, nurse_feminine), (PILOT, seeds // 2)):
        occupation = it.attributes["occupation"]
        cue = [occupation] * (seeds - cue_lost) + ["unknown"] * cue_lost if it is NURSE else [occupation] * seeds
        planted.append(
            (
                it,
                {
                    GENDER: labels_of({"feminine": feminine, "masculine": seeds - feminine}),
                    "person_present": ["yes"] * seeds,
                    "depicted_occupation": cue,
                },
            )
        )
    root = build_run(root, planted, policy="default")
    with RunStore.open(root) as store:
        records = sorted(r.record_id for r in store.generations())
        rng = np.random.default_rng(0)
        base = np.random.default_rng(1).normal(size=(len(records), 16))  # the same per record id in both runs
        vectors = base + moved * rng.normal(size=base.shape)
        store.write_table(
            "embeddings.parquet",
            pd.DataFrame({"record_id": records, "classifier": "clip:ViT-B-32/test", "embedding": list(vectors)}),
        )
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("mitigation")
    return {
        "skewed": _run(root / "skewed", 38),
        "balanced": _run(root / "balanced", 21, cue_lost=6, moved=0.5),
        "fewer_seeds": _run(root / "fewer", 15, seeds=30),
    }


def test_a_mitigation_that_balances_the_nurse_is_found_pair_by_pair(runs):
    lines, code = compare_command(runs["skewed"], runs["balanced"], "default")
    assert code == 0
    assert lines[0].startswith("paired comparison of 80 (prompt, seed) pairs")
    payload = json.loads((runs["balanced"] / "comparison.json").read_text())
    nurse = [
        c for c in payload["changes"] if c["check"] == "gender-parity" and c["group"].get("prompt") == NURSE.prompt
    ]
    (row,) = nurse
    assert row["baseline"] == pytest.approx(0.45) and row["mitigated"] == pytest.approx(0.025)
    assert row["change_low"] < row["change"] < row["change_high"] < 0
    assert row["direction"] == "improved" and row["n_pairs"] == 40
    pilot = [
        c for c in payload["changes"] if c["check"] == "gender-parity" and c["group"].get("prompt") == PILOT.prompt
    ]
    assert pilot[0]["direction"] == "no significant change" and pilot[0]["change"] == 0
    # Per-label shares, paired: the nurse's feminine share fell from 0.95 to 0.525.
    shares = pd.DataFrame(payload["shares"])
    feminine = shares[(shares["prompt"] == NURSE.prompt) & (shares["label"] == "feminine")].iloc[0]
    assert feminine["change"] == pytest.approx(-0.425) and feminine["change_high"] < 0


def test_what_the_mitigation_cost_is_measured_on_the_same_pairs(runs):
    compare_command(runs["skewed"], runs["balanced"], "default")
    costs = json.loads((runs["balanced"] / "comparison.json").read_text())["costs"]
    overall = [e for e in costs["embedding_distance"] if e["prompt"] == "all prompts"][0]
    assert (
        overall["n_pairs"] == 80 and 0 < overall["distance_low"] < overall["mean_distance"] < overall["distance_high"]
    )
    loss = {row["what"]: row for row in costs["label_loss"]}
    assert loss["occupation cue"]["lost"] == 6 and loss["occupation cue"]["n_with_label"] == 80
    assert loss["person"]["lost"] == 0


def test_a_mitigation_that_makes_things_worse_fails_when_asked(runs):
    lines, code = compare_command(runs["balanced"], runs["skewed"], "default", fail_on_regression=True)
    assert code == 1 and "1 worse" in lines[-2] and lines[-1] == "compare: 1 significant regression(s)"


def test_runs_of_other_seeds_are_compared_as_independent_samples(runs):
    lines, _ = compare_command(runs["skewed"], runs["fewer_seeds"], "default")
    assert not lines[0].startswith("paired")
    from audit.core.errors import DiffauditError

    with pytest.raises(DiffauditError, match="are not paired: they share 60"):
        compare_command(runs["skewed"], runs["fewer_seeds"], "default", design="paired")


def test_the_report_and_summary_show_the_mitigation(runs, tmp_path):
    import shutil

    run = shutil.copytree(runs["balanced"], tmp_path / "balanced")
    compare_command(runs["skewed"], run, "default")
    with RunStore.open(run) as store:
        page = write_report(store)["report.html"].read_text()
    assert "Mitigation</h2>" in page and 'id="fig-mitigation"' in page and "improved" in page
    digest = build_digest(run)
    assert digest["comparison"]["counts"]["improved"] >= 1
    assert "**Mitigation**" in render_markdown(digest)
