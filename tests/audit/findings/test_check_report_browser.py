"""The report of a run that holds every registered check type (each type's own ``example(True)``, the test-only
plugin included) opens in headless Chromium without an error, each check's id is in its verdict table as the
browser renders it, and each check's own section (its type's ``report_section``) renders: its title, its figure
drawn by plotly as SVG, its table with every row. Chromium and its flags as in tests/reports/test_browser.py
(skipped where it is missing)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

import tests.audit.findings.plugin_check  # noqa: F401  (registers the test-only check type)
from audit.core.run_store import RunStore
from audit.findings import analyze_run, write_analysis
from audit.findings.checks import CHECK_TYPES
from reports import write_report
from tests.audit.findings.run_builder import build_run, item, labels_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium); make test installs it"
)


@pytest.fixture(scope="module")
def contract_report(tmp_path_factory):
    """One run whose policy holds one check of every registered type, its images planted by each example."""
    root = tmp_path_factory.mktemp("contract")
    entries, planted, validation = [], [], {}
    for kind in CHECK_TYPES.available():
        example = CHECK_TYPES.get(kind).example(True)
        entries.append({"id": f"{kind}-contract", **example["entry"]})
        for spec in example["items"]:
            it = item(
                f"{kind}: {spec['prompt']}", attributes=spec.get("attributes", {}), reference=spec.get("reference", {})
            )
            planted.append((it, {attribute: labels_of(counts) for attribute, counts in spec["labels"].items()}))
        validation.update({(v["classifier"], v["attribute"]): v for v in example.get("validation", [])})
    policy = root / "policy.yaml"
    policy.write_text(yaml.safe_dump({"name": "contract", "checks": entries}), encoding="utf-8")
    run = build_run(root / "run", planted, policy=str(policy))
    with RunStore.open(run) as store:
        write_analysis(store, analyze_run(store, validation=validation))
        written = write_report(store)
        return [e["id"] for e in entries], written["report.html"], json.loads(written["summary.json"].read_text())


@pytest.fixture(scope="module")
def rendered(contract_report):
    """What Chromium shows: page errors, the verdict table's rows, and per check section its heading, whether its
    figure holds plotly's SVG, and its table's row count (header excluded)."""
    from playwright.sync_api import sync_playwright

    _, path, summary = contract_report
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(path.as_uri(), wait_until="load")
        rows = page.locator("table.verdict-table").first.locator("tr").all_inner_texts()
        sections = {}
        for i, section in enumerate(summary["sections"]):
            element = page.locator(f"#section-{i}")
            chart = page.locator(f"#fig-section-{i}")
            if chart.count():
                chart.scroll_into_view_if_needed()  # charts are drawn as they come into view
                page.wait_for_selector(f"#fig-section-{i} svg.main-svg", timeout=10_000)
            sections[section["id"]] = {
                "heading": element.locator("h3").inner_text(),
                "svg": page.locator(f"#fig-section-{i} svg.main-svg").count() > 0,
                "rows": element.locator("table.section-table tr").count() - 1,
            }
        browser.close()
    return {"problems": problems, "rows": rows, "sections": sections, "summary": summary}


def test_every_check_id_is_in_the_rendered_verdict_table(contract_report, rendered):
    ids = contract_report[0]
    rows = rendered["rows"]
    assert rendered["problems"] == []
    cells = [row.split("\t") for row in rows]
    for check_id in ids:
        (row,) = [c for c in cells if len(c) > 1 and c[1].strip() == check_id] or [None]
        assert row is not None, f"{check_id} not rendered in the verdict table: {rows}"
        assert row[0].strip() == "FAIL", row  # each example plants images beyond its limit


def test_every_check_section_renders_its_title_figure_and_table(contract_report, rendered):
    ids = contract_report[0]
    assert rendered["problems"] == []
    given = {s["id"]: s for s in rendered["summary"]["sections"]}
    assert set(given) == set(ids) == set(rendered["sections"])  # every registered type has its section
    for check_id in ids:
        section, shown = given[check_id], rendered["sections"][check_id]
        assert shown["heading"] == section["title"]
        assert section["figure"] is not None, f"{check_id}: its example is judged, so its section has a figure"
        assert shown["svg"], f"{check_id}: plotly drew no SVG for the section's figure"
        assert shown["rows"] == len(section["rows"]) > 0
