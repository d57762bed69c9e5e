"""The report in a real browser: headless Chromium opens it offline, logs no error, draws the plotly charts.

Uses the system Chromium (Debian's ``chromium`` package; ``make test`` installs it when it can) driven by
the Python ``playwright`` package through its executable path. Screenshots are kept in
``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from audit.core.run_store import RunStore
from audit.findings import analyze_run, policy_from_dict, write_analysis
from reports import write_report

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a closed network needs: without them Chromium keeps trying to reach Google's services.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium); make test installs it"
)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def report_path(report_run) -> Path:
    with RunStore.open(report_run) as store:
        return write_report(store)["report.html"]


def _open(browser, path: Path, width: int):
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems, requests


# Each drawn chart's legend against its x axis's tick labels and title: the texts whose boxes intersect it.
OVERLAPS = """
Array.from(document.querySelectorAll('.chart')).flatMap(chart => {
  const legend = chart.querySelector('.legend');
  if (!legend) return [];
  const l = legend.getBoundingClientRect();
  return Array.from(chart.querySelectorAll('.xtick text, .g-xtitle text'))
    .filter(t => {
      const r = t.getBoundingClientRect();
      return r.width > 0 && r.left < l.right && r.right > l.left && r.top < l.bottom && r.bottom > l.top;
    })
    .map(t => `${chart.id}: legend over '${t.textContent}'`);
})
"""


def test_chromium_draws_every_chart_without_errors_and_fetches_nothing(browser, report_path):
    page, problems, requests = _open(browser, report_path, 1280)
    charts = page.locator(".chart")
    assert charts.count() >= 5
    # Charts are drawn when they come into view (or their section opens): open every section, scroll through.
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    for i in range(charts.count()):
        charts.nth(i).scroll_into_view_if_needed()
        charts.nth(i).locator(".main-svg").first.wait_for(timeout=10_000)
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('.chart')).filter(c => c.querySelector('.main-svg .trace')).length"
    )
    assert drawn == charts.count()  # every chart has drawn traces, not only axes
    # Each chart draws every trace of its figure (a trace plotly could not read would be missing).
    short = page.evaluate(
        """(() => { const figures = JSON.parse(document.getElementById('figure-data').textContent);
          return Array.from(document.querySelectorAll('.chart'))
            .filter(c => c.querySelectorAll('.main-svg .trace').length < figures[c.id].data.length)
            .map(c => c.id); })()"""
    )
    assert short == []
    assert problems == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    # No legend lies over an axis's tick labels or title (it did in charts of one or two groups).
    overlaps = page.evaluate(OVERLAPS)
    assert overlaps == [], overlaps
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / "report-desktop.png"))
    page.locator("#attributes").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "report-charts.png"))
    page.close()


def test_the_label_filter_hides_images_of_other_labels(browser, report_path):
    page, problems, _ = _open(browser, report_path, 1280)
    page.evaluate("document.querySelectorAll('details.item').forEach(d => d.open = true)")
    total = page.locator("figure[data-labels]").count()
    select = page.locator("#filters select[data-key='clip:ViT-B-32/test / style']")
    select.select_option("plain")
    visible = page.locator("figure[data-labels]:not(.hidden)").count()
    assert 0 < visible < total
    assert problems == []
    page.close()


def test_at_phone_width_nothing_overflows_the_screen(browser, report_path):
    page, problems, _ = _open(browser, report_path, 390)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-phone.png"), full_page=False)
    assert problems == []
    page.close()


PDFTOTEXT = shutil.which("pdftotext")


def _unescaped(text: str) -> str:
    """A figure's text as the page shows it (figures write user text as HTML entities)."""
    return " ".join(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())


@pytest.mark.skipif(PDFTOTEXT is None, reason="no pdftotext (apt-get install poppler-utils); make test installs it")
def test_printed_to_pdf_every_chart_is_drawn_whole_though_none_was_scrolled_to(browser, report_path, tmp_path):
    """Print straight after opening, as a reader would: every chart must be in the PDF with its whole title.

    A chart never scrolled into view prints blank (no title at all), and one drawn at the screen's width is cut
    at the paper's edge (its centred title with it); Chromium leaves cut text out of the PDF.
    """
    page, problems, _ = _open(browser, report_path, 1280)
    figures = page.evaluate("JSON.parse(document.getElementById('figure-data').textContent)")
    assert page.evaluate("document.querySelectorAll('.chart .main-svg').length") < len(figures)  # drawn lazily
    open_before = page.evaluate("document.querySelectorAll('details[open]').length")
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf), format="A4")
    text = _unescaped(subprocess.run([PDFTOTEXT, str(pdf), "-"], capture_output=True, text=True, check=True).stdout)
    missing = [key for key, fig in figures.items() if _unescaped(fig["layout"]["title"]["text"]) not in text]
    assert missing == [], f"charts blank or cut in the printed PDF: {missing}"
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('.chart')).filter(c => c.querySelector('.main-svg .trace')).length"
    )
    assert drawn == len(figures)  # with their traces, not only axes
    # After printing the page is as it was: sections closed again, charts at the screen's width.
    assert page.evaluate("document.querySelectorAll('details[open]').length") == open_before
    width = page.evaluate("document.querySelector('.chart .main-svg').getBoundingClientRect().width")
    assert width > 900
    assert problems == []
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(pdf, ARTIFACTS / "report-printed.pdf")
    page.close()


def test_the_verdict_table_of_nine_checks_fits_one_screen(browser, report_run, tmp_path):
    """Nine checks, one line each, the decision rules folded away: the table fits a 1280 x 800 screen."""
    checks = [
        {"id": f"parity-{i}", "check": "deviation", "attribute": "perceived_gender_presentation", "by": ["prompt"]}
        for i in range(5)
    ] + [
        {"id": f"sexualisation-{i}", "check": "risk_ratio", "attribute": "nudenet_exposed", "max": 1.5}
        for i in range(4)
    ]
    run = shutil.copytree(report_run, tmp_path / "run")
    with RunStore.open(run) as store:
        write_analysis(store, analyze_run(store, policy_from_dict({"name": "nine", "checks": checks}, source="t")))
        path = write_report(store)["report.html"]
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(path.as_uri(), wait_until="load")
    page.locator("#verdict").scroll_into_view_if_needed()
    rows = page.locator(".verdict-table tr")
    assert rows.count() == 10
    box = page.locator(".verdict-table").bounding_box()
    assert box["height"] < 800 - 120  # with the verdict line above it
    assert max(rows.nth(i).bounding_box()["height"] for i in range(1, 10)) < 40  # one line a check
    assert page.locator("details.rules").count() == 1 and not page.locator("details.rules").get_attribute("open")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-verdict-nine-checks.png"))
    page.close()
