"""``diffaudit annotate`` end to end: a person's key presses in headless Chromium → the labels file →
``validate-classifier`` → corrected shares of the run.

The run is 60 sandbox portraits (whose true skin-tone group is known, so the "person" in the test answers
truthfully) scored by the sandbox's own CLIP. Chromium is Debian's, driven by playwright through its
executable path, as in tests/reports/test_browser.py.
"""

from __future__ import annotations

import csv
import math
import shutil
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from audit.classifiers import ClipClassifier
from audit.classifiers.clip_zero_shot import ClipParams
from audit.commands.analyze import analyze_command
from audit.commands.annotate import AnnotationSession, classifier_file, labels_path, make_server, plan_sample
from audit.commands.validate_classifier import validate_command
from audit.core.errors import ConfigError
from audit.core.records import GenerationRecord, ProbeItem
from audit.core.run_store import RunStore
from generators.sandbox import balanced_bias, render_dataset

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
ATTRIBUTE = "skin_tone_group"
CLIP = {"type": "clip", "model": "builtin:sandbox-clip", "label_set": "sandbox", "cache": False}


def build_portrait_run(root: Path, count: int = 60) -> tuple[Path, dict[str, str]]:
    """A run of ``count`` rendered portraits over two prompts, scored by the sandbox CLIP; and each record's truth."""
    pixels, portraits = render_dataset(count, 29, table=balanced_bias())
    items = [ProbeItem.create(suite="test", prompt=f"a portrait {k}", attributes={}) for k in ("a", "b")]
    config = {"name": root.name, "generator": {"type": "folder"}, "probes": [{"suite": "test"}], "classifiers": [CLIP]}
    truth, records, images = {}, [], []
    with RunStore.create(root, config=config, seeds={"test": list(range(count // 2))}) as store:
        store.write_probes(items)
        for i, (array, portrait) in enumerate(zip(pixels, portraits, strict=True)):
            item, seed = items[i % 2], i // 2
            record_id = GenerationRecord.make_record_id(item.item_id, seed)
            image = Image.fromarray(array)
            record = GenerationRecord(
                record_id=record_id, item_id=item.item_id, seed=seed, generator="sandbox", generator_config="0"
            )
            store.save_generation(record, image)
            truth[record_id] = portrait.skin_tone_group
            records.append(record_id)
            images.append(image)
        classifier = ClipClassifier(ClipParams(**{k: v for k, v in CLIP.items() if k != "type"}))
        rows = [
            (record_id, classifier.classifier_id, name, label, prob)
            for record_id, result in zip(records, classifier.classify(images), strict=True)
            for name, label, prob in result.labels
        ]
        scores = pd.DataFrame(rows, columns=["record_id", "classifier", "attribute", "label", "prob"])
        store.write_table("scores.parquet", scores)
    return root, truth


@pytest.fixture(scope="module")
def portrait_run(tmp_path_factory):
    return build_portrait_run(tmp_path_factory.mktemp("annotate") / "portraits")


def test_the_sample_is_sized_for_the_width_and_stratified_in_proportion(portrait_run, tmp_path):
    root, _ = portrait_run
    with RunStore.open(root, lock=False) as store:
        wide = plan_sample(store, ATTRIBUTE, width=0.5, accuracy=0.9)
    # Simulated: the smallest size tried whose widest corrected interval is within 0.5 on average, then a
    # tenth more for images set aside.
    n = wide["size"]
    assert wide["width_reached"] and wide["expected_width"] <= 0.5 and n == math.ceil(wide["usable_for_width"] / 0.9)
    assert 10 <= n <= 40 and len({i["record_id"] for i in wide["images"]}) == n
    strata = wide["strata"]["labels"]
    assert sum(s["run"] for s in strata.values()) == 60
    for s in strata.values():  # proportional: each classifier label within one image a prompt of its share
        assert abs(s["sample"] - n * s["run"] / 60) <= 2.0
    # The plan is saved: a second call (another annotator, a resumed session) gets the same images.
    with RunStore.open(root, lock=False) as store:
        again = plan_sample(store, ATTRIBUTE, width=0.1)
    assert again["resumed"] and [i["record_id"] for i in again["images"]] == [i["record_id"] for i in wide["images"]]
    # Once labels are given, a larger --size adds images after the labelled ones, still in proportion.
    AnnotationSession(root, wide, "ann").label(0, "light")
    with RunStore.open(root, lock=False) as store:
        grown = plan_sample(store, ATTRIBUTE, size=n + 12)
        with pytest.raises(ConfigError, match="a larger size adds images"):
            plan_sample(store, ATTRIBUTE, size=n - 1)
    ids = [i["record_id"] for i in grown["images"]]
    assert len(set(ids)) == n + 12 and ids[:n] == [i["record_id"] for i in wide["images"]]
    for s in grown["strata"]["labels"].values():
        assert abs(s["sample"] - (n + 12) * s["run"] / 60) <= 2.0
    labels_path(root, ATTRIBUTE).with_suffix(".sample.json").unlink()
    labels_path(root, ATTRIBUTE).unlink()


def test_plan_only_shows_a_sample_without_fixing_it(portrait_run):
    """Trying widths with --plan-only saves nothing: the next width (or the page) plans afresh."""
    from audit.commands.annotate import annotate_command

    root, _ = portrait_run
    saved = labels_path(root, ATTRIBUTE).with_suffix(".sample.json")
    lines: list[str] = []
    for width in (0.5, 0.3):
        assert annotate_command(root, ATTRIBUTE, width=width, accuracy=0.9, plan_only=True, echo=lines.append) == 0
    assert not saved.exists() and not any("resuming" in line for line in lines)
    sizes = [int(line.split()[1]) for line in lines if line.startswith("sample: ")]
    assert len(sizes) == 2 and sizes[1] > sizes[0], lines


def test_a_saved_sample_cut_short_or_edited_is_one_line_naming_it(portrait_run):
    root, _ = portrait_run
    saved = labels_path(root, ATTRIBUTE).with_suffix(".sample.json")
    saved.parent.mkdir(parents=True, exist_ok=True)
    try:
        for content in (b'{"size": 3', b"[]", b'{"size": 3}', b"\xc3\x28", b'{"attribute": "a", "strata": 1}'):
            saved.write_bytes(content)
            with RunStore.open(root, lock=False) as store, pytest.raises(ConfigError, match=str(saved)):
                plan_sample(store, ATTRIBUTE)
    finally:
        saved.unlink()


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium)")
def test_key_presses_in_chromium_become_a_validation_and_corrected_shares(portrait_run):
    from playwright.sync_api import sync_playwright

    root, truth = portrait_run
    with RunStore.open(root, lock=False) as store:
        plan = plan_sample(store, ATTRIBUTE, size=30, seed=1)
        made = classifier_file(store, plan)
    session = AnnotationSession(root, plan, "ann")
    server = make_server(session)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    keys = {label: str(i + 1) for i, label in enumerate(plan["labels"])}
    shown = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            page = browser.new_page(bypass_csp=True)  # the page's CSP forbids eval, which playwright's waits use
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")

            def current() -> int:
                page.wait_for_function("document.getElementById('image').complete")
                return int(page.evaluate("document.body.dataset.index"))

            def press(key: str) -> None:
                before = page.evaluate("document.getElementById('status').textContent")
                page.keyboard.press(key)
                page.wait_for_function(
                    "t => document.getElementById('status').textContent !== t", arg=before, timeout=5000
                )

            for step in range(30):
                index = current()
                shown.append(index)
                record = plan["images"][index]["record_id"]
                if step == 3:
                    press("n")  # a slip: not a person ...
                    assert current() != index
                    press("Backspace")  # ... undone: the same image comes back
                    assert current() == index
                if step == 12:  # closing the page and coming back resumes where it stopped
                    page.reload()
                    page.wait_for_selector("body[data-ready='1']")
                    assert "12 of 30" in page.inner_text("#status") and current() == index
                key = {5: "u", 6: "n"}.get(step, keys[truth[record]])
                press(key)
            assert page.is_visible("#done") and "30 of 30" in page.inner_text("#status")
            assert problems == []
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    assert sorted(shown) == list(range(30))
    # Another site in the same browser cannot label: a form post (no JSON) or a foreign Host is refused.
    import urllib.error
    import urllib.request

    server = make_server(session)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/json", "Host": "evil.example"}):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/undo", data=b"{}", headers=headers, method="POST"
            )
            with pytest.raises(urllib.error.HTTPError, match="403"):
                urllib.request.urlopen(request, timeout=5)
    finally:
        server.shutdown()
        server.server_close()

    labels = labels_path(root, ATTRIBUTE)
    with labels.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 30 and {r["annotator"] for r in rows} == {"ann"}
    assert sum(r["label"] == "not_a_person" for r in rows) == 1 and sum(r["label"] == "unsure" for r in rows) == 1
    assert all(len(r["sha256"]) == 64 and (labels.parent / r["path"]).is_file() for r in rows)

    # A second annotator labels the same sample (here through the session, not a browser), twice disagreeing.
    second = AnnotationSession(root, plan, "bea")
    for i, image in enumerate(plan["images"]):
        answer = truth[image["record_id"]]
        second.label(i, "light" if i in (0, 1) and answer != "light" else answer)

    out = labels.with_suffix(".validation.json")
    lines, code = validate_command(labels, str(made), ATTRIBUTE, out=out, device="cpu")
    assert code == 0
    import json

    summary = json.loads(out.read_text())
    people = summary["data"]["labelled_by"]
    assert people["agreement"]["method"] == "Cohen's kappa" and people["agreement"]["annotators"] == ["ann", "bea"]
    assert 0.7 < people["agreement"]["kappa"] < 1  # the two disagreements, and ann's two images set aside
    assert people["runs"] == [root.name] and summary["n_images"] >= 26
    assert any("Cohen's kappa" in line for line in lines)

    analyze_command(root, [out])
    corrected = pd.read_parquet(root / "tables" / "corrected_prompt.parquet")
    assert set(corrected["label"]) == {"light", "medium", "dark"}
    judged = corrected[corrected["corrected_share"].notna()]
    assert not judged.empty
    with RunStore.open(root, lock=False) as store:
        prompt_of = {item.item_id: item.prompt for item in store.probes()}
        truths_of = {}
        for record in store.generations():
            truths_of.setdefault(prompt_of[record.item_id], []).append(truth[record.record_id])
    for row in judged.itertuples():
        share = np.mean([t == row.label for t in truths_of[row.prompt]])
        assert row.ci_low - 1e-9 <= share <= row.ci_high + 1e-9, (row.label, share, row.ci_low, row.ci_high)
