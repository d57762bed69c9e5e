"""The self-contained HTML report: Jinja2 with autoescaping, images inlined as data URIs."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("reports", "templates"),
    autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
    undefined=jinja2.StrictUndefined,
)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(digest: dict[str, Any], root: str | Path) -> str:
    """The report page for ``digest``; images are read from the run directory ``root``."""
    root = Path(root)
    images = {
        image["record_id"]: _data_uri(root / image["image_path"])
        for item in digest["items"]
        for image in item["images"]
        if image["image_path"] and (root / image["image_path"]).is_file()
    }
    return _ENV.get_template("report.html.j2").render(digest=digest, images=images)
