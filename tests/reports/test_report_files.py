"""The four report files from one digest: every user string escaped, nothing fetched, schema and JUnit valid."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import plotly.graph_objects as go
import pytest
from markupsafe import escape

from audit.core.run_store import RunStore
from reports import build_digest, render_markdown, validate_summary, write_report
from reports.figures import report_figures
from tests.reports.conftest import HOSTILE


class _Page(HTMLParser):
    """Every start tag with its attributes, and the text of each script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.fixture(scope="module")
def written(report_run):
    with RunStore.open(report_run) as store:
        return write_report(store)


def test_html_escapes_every_user_string_and_json_cannot_end_its_script(written):
    page = written["report.html"].read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    # Exactly our three scripts (plotly.js, the figure data, the drawing code); no injected tag or handler.
    assert [t for t, _ in parsed.tags].count("script") == 3
    assert not any(name.startswith("on") for _, attrs in parsed.tags for name in attrs)
    assert all(attrs.get("src", "data:").startswith("data:") for tag, attrs in parsed.tags if tag == "img")
    # The hostile text is shown, escaped, as a prompt, an occupation, a label and the policy's name.
    assert page.count(str(escape(f"a photo of {HOSTILE}"))) >= 1
    assert str(escape(f"policy {HOSTILE}")) in page
    assert str(escape(f"suite {HOSTILE}")) in page  # a suite name
    assert str(escape(f"model: {HOSTILE}")) in page  # a config value
    # Inside the JSON of the figures it stays data: the script parses whole and holds the text.
    figure_data = json.loads(parsed.scripts[1])
    shown = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")  # plotly.js shows entities as text
    assert any(shown in text for text in _strings(figure_data))
    assert "</script" not in parsed.scripts[1].lower()
    # Label filters and hover texts carry the hostile label as an attribute value, escaped.
    image_labels = [json.loads(attrs["data-labels"]) for _, attrs in parsed.tags if "data-labels" in attrs]
    assert any(label == HOSTILE for labels in image_labels for label, _ in labels.values())


def test_the_report_fetches_nothing(written):
    page = written["report.html"].read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    for tag, attrs in parsed.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:", "#")), (tag, name, value)
    assert "<link" not in page and "@import" not in page
    assert not re.search(r"url\(\s*['\"]?https?:", page)


def test_every_figure_is_a_valid_plotly_figure_and_the_charts_are_there(report_run):
    digest = build_digest(report_run)
    figures = report_figures(digest)
    for fig in figures.values():
        go.Figure(fig)  # raises on a property plotly does not know
    assert any(k.startswith("fig-share-") for k in figures)
    assert {"fig-diversity", "fig-abstention"} <= set(figures)
    # Each check's own section, in the policy's order; the ones that judged a group have a figure.
    sections = {s["id"]: (i, s) for i, s in enumerate(digest["sections"])}
    assert list(sections) == ["gender-parity", "gender-amplification", "sexualisation-ratio", "nsfw-rate"]
    for check_id in ("gender-parity", "gender-amplification", "sexualisation-ratio"):
        i, section = sections[check_id]
        assert f"fig-section-{i}" in figures, check_id
    i, amplification = sections["gender-amplification"]
    assert len(amplification["rows"]) == 5  # the five occupations' points
    assert [t["name"] for t in figures[f"fig-section-{i}"]["data"]][1].startswith("fit: logit slope")
    i, ratio = sections["sexualisation-ratio"]
    assert figures[f"fig-section-{i}"]["layout"]["xaxis"]["type"] == "log"  # the forest plot
    # A check that judged nothing says so, and has no figure.
    i, unscored = sections["nsfw-rate"]
    assert f"fig-section-{i}" not in figures and unscored["figure"] is None
    assert unscored["no_figure"] and "judged nothing" in unscored["text"]


def test_summary_json_is_the_digest_and_validates_against_its_schema(written, report_run):
    summary = json.loads(written["summary.json"].read_text(encoding="utf-8"))
    validate_summary(summary)
    assert summary["schema_version"] == 2
    assert summary == json.loads(json.dumps(build_digest(report_run)))
    import jsonschema

    broken = {**summary, "counts": {**summary["counts"], "images_ok": "many"}}
    with pytest.raises(jsonschema.ValidationError):
        validate_summary(broken)


def test_junit_has_one_case_per_check_with_failures_and_skips(written):
    suite = ET.parse(written["junit.xml"]).getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert set(cases) == {"gender-parity", "gender-amplification", "sexualisation-ratio", "nsfw-rate"}
    assert suite.get("tests") == "4"
    assert cases["gender-parity"].find("failure") is not None  # the extreme occupations fail
    assert cases["nsfw-rate"].find("skipped") is not None  # nothing scored that attribute: not judged
    assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases.values())
    assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases.values())


def test_markdown_summary_is_link_free_and_escapes_user_text(written):
    from markdown_it import MarkdownIt

    text = written["summary.md"].read_text(encoding="utf-8")
    assert "FAIL" in text.splitlines()[0]
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "gender-parity" in html and "<table>" in html  # the checks, as a table
    # Rendered, the hostile text is text: no link, image, script or emphasis it asked for.
    assert "<a " not in html and "<img" not in html and "<script" not in html and "<em>bold" not in html
    assert "*bold*" in html and "&lt;/script&gt;" in html
    # No URL for a forge's autolinker to find.
    assert "://" not in text and "www." not in text


def test_markdown_of_a_run_without_findings_says_so(tmp_path):
    from tests.audit.findings.run_builder import build_run, item, labels_of

    root = build_run(tmp_path / "r", [(item("p"), {"nudenet_exposed": labels_of({"no": 2})})])
    digest = build_digest(root)
    assert digest["verdict"]["status"] == "not_analysed"
    assert "not been analysed" in render_markdown(digest)


def test_thumbnails_are_capped_per_prompt_and_the_cap_is_stated(report_run, tmp_path):
    import shutil

    run = shutil.copytree(report_run, tmp_path / "copy")
    with RunStore.open(run) as store:
        page = write_report(store, thumbnails_per_prompt=3)["report.html"].read_text(encoding="utf-8")
    digest = build_digest(run, thumbnails_per_prompt=3)
    assert all(len(item["images"]) == 3 and item["n_images"] == 12 for item in digest["items"])
    assert page.count('<img src="data:image/jpeg;base64,') == 3 * len(digest["items"])
    assert "At most 3 images per prompt are shown" in page


def test_a_check_supplied_figure_and_table_are_escaped_in_the_page(report_run, tmp_path):
    """A check type's section is user text as far as the page goes: a ``<script>`` in its figure's trace names,
    texts, categories and titles, or in its title, text and cells, is shown as text and runs nothing."""
    import shutil

    run = shutil.copytree(report_run, tmp_path / "copy")
    findings = json.loads((run / "findings.json").read_text(encoding="utf-8"))
    attack = "<script>alert('section')</script>"
    section = findings["checks"][0]["report"]
    section.update(title=f"title {attack}", text=f"text {attack}", rows=[[f"cell {attack}", *section["rows"][0][1:]]])
    trace = section["figure"]["data"][0]
    trace.update(name=f"name {attack}", text=[f"text {attack}"], y=[f"group {attack}"], x=[0.5])
    trace.update(customdata=[f"status {attack}"])
    section["figure"]["layout"]["title"] = {"text": f"figure {attack}"}
    section["figure"]["layout"]["xaxis"]["title"] = {"text": f"axis {attack}"}
    (run / "findings.json").write_text(json.dumps(findings), encoding="utf-8")
    with RunStore.open(run) as store:
        page = write_report(store)["report.html"].read_text(encoding="utf-8")
    parsed = _Page()
    parsed.feed(page)
    assert [t for t, _ in parsed.tags].count("script") == 3  # plotly.js, the figure data, the drawing code
    assert "<script>alert" not in page
    for shown in ("title", "text", "cell"):
        assert str(escape(f"{shown} {attack}")) in page
    figure = json.loads(parsed.scripts[1])["fig-section-0"]
    entity = attack.replace("<", "&lt;").replace(">", "&gt;")  # plotly.js shows entities as text
    strings = list(_strings(figure))
    for shown in ("name", "text", "group", "status", "figure", "axis"):
        assert f"{shown} {entity}" in strings, shown
    assert not any("<script" in text for text in strings)


def test_a_findings_json_written_before_sections_gives_a_report_without_them(report_run, tmp_path):
    """findings.json of an older analysis has no ``report`` per check: the report has no check sections, and the
    rest of it is as before."""
    import shutil

    run = shutil.copytree(report_run, tmp_path / "old")
    findings = json.loads((run / "findings.json").read_text(encoding="utf-8"))
    for entry in findings["checks"]:
        del entry["report"]
    (run / "findings.json").write_text(json.dumps(findings), encoding="utf-8")
    with RunStore.open(run) as store:
        written = write_report(store)
    summary = json.loads(written["summary.json"].read_text(encoding="utf-8"))
    validate_summary(summary)
    assert summary["sections"] == [] and summary["verdict"]["status"] == "fail"
    html = written["report.html"].read_text(encoding="utf-8")
    assert "fig-section-" not in html
    assert "4 check(s) of the policy have no section" in html  # and how to get them back
    assert "sections-missing" not in report_run.joinpath("report.html").read_text(encoding="utf-8")
    assert "Largest deviations" not in written["summary.md"].read_text(encoding="utf-8")
    assert {c.get("name") for c in ET.parse(written["junit.xml"]).getroot().iter("testcase")} == {
        "gender-parity",
        "gender-amplification",
        "sexualisation-ratio",
        "nsfw-rate",
    }
