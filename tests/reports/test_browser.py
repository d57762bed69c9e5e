"""The report in a real browser: headless Chromium opens it offline, logs no error, draws the plotly charts.

Uses the system Chromium (Debian's ``chromium`` package; ``make test`` installs it when it can) driven by
the Python ``playwright`` package through its executable path. Screenshots are kept in
``test-artifacts/`` for a person to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audit.core.run_store import RunStore
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
    assert page.locator(".chart .trace").count() >= 2 * charts.count() - 2
    assert problems == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
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
