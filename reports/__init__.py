"""Reports: pure functions from a run directory to a digest, and from the digest to files.

``write_report`` builds all four from one digest: ``report.html`` (the
self-contained page), ``summary.json`` (the digest, validated against
``summary.schema.json``), ``summary.md`` (for a pull-request comment) and
``junit.xml`` (one test case per policy check).
"""

from __future__ import annotations

import json
from pathlib import Path

from audit.core.run_store import REPORT, SUMMARY, RunStore
from reports.digest import SCHEMA_VERSION, THUMBNAILS_PER_PROMPT, build_digest
from reports.html_report import render_html
from reports.junit import render_junit
from reports.markdown_summary import render_markdown
from reports.summary_schema import summary_schema, validate_summary

SUMMARY_MARKDOWN = "summary.md"
JUNIT = "junit.xml"

__all__ = [
    "JUNIT",
    "SCHEMA_VERSION",
    "SUMMARY_MARKDOWN",
    "THUMBNAILS_PER_PROMPT",
    "build_digest",
    "render_html",
    "render_junit",
    "render_markdown",
    "summary_schema",
    "validate_summary",
    "write_report",
]


def write_report(store: RunStore, *, thumbnails_per_prompt: int = THUMBNAILS_PER_PROMPT) -> dict[str, Path]:
    """Write report.html, summary.json, summary.md and junit.xml into the run; returns their paths by name."""
    digest = build_digest(store.root, thumbnails_per_prompt=thumbnails_per_prompt)
    return {
        SUMMARY: store.write_text(SUMMARY, json.dumps(digest, indent=1, ensure_ascii=False, allow_nan=False) + "\n"),
        SUMMARY_MARKDOWN: store.write_text(SUMMARY_MARKDOWN, render_markdown(digest)),
        JUNIT: store.write_text(JUNIT, render_junit(digest)),
        REPORT: store.write_text(REPORT, render_html(digest, store.root)),
    }
