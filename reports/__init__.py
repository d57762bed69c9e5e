"""Reports: pure functions from a run directory to a digest, and from the digest to files."""

from __future__ import annotations

from pathlib import Path

from audit.core.run_store import REPORT, SUMMARY, RunStore
from reports.digest import build_digest
from reports.html_report import render_html

__all__ = ["build_digest", "render_html", "write_report"]


def write_report(store: RunStore) -> Path:
    """Write report.html and summary.json into the run; returns the path of report.html."""
    digest = build_digest(store.root)
    summary = {key: digest[key] for key in ("name", "created", "counts", "versions")}
    if digest["findings"] is not None:
        summary["findings"] = {key: digest["findings"][key] for key in ("policy", "passed", "counts")}
    store.write_json(SUMMARY, summary)
    return store.write_text(REPORT, render_html(digest, store.root))
