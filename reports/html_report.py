"""The self-contained HTML report: Jinja2 with autoescaping, plotly.js inlined once, thumbnails as data URIs.

Everything the page shows comes from the digest; the only other input is
the run's image files, turned into small JPEG thumbnails. The page fetches
nothing: plotly.js, the figures (as JSON inside a ``<script
type="application/json">`` with ``<``, ``>`` and ``&`` escaped, so no user
text can end the script) and the images are all inline.
"""

from __future__ import annotations

import base64
import functools
import io
import json
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from reports.figures import report_figures

# Longest side of a thumbnail in pixels, and its JPEG quality.
THUMBNAIL_SIDE = 128
JPEG_QUALITY = 80


def script_json(value: Any) -> markupsafe.Markup:
    """JSON that is safe inside ``<script>``: no ``<``, ``>`` or ``&`` can close the script or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return markupsafe.Markup(text)  # noqa: S704 — escaped above for the script context


def _fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "–"
    try:
        return format(float(value), spec)
    except (TypeError, ValueError):
        return str(value)


def _cell(value: Any) -> str:
    """A cell of a check's section table: numbers to 3 significant digits, nothing as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return format(value, ".3g")
    return str(value)


def _interval(ci: Any, spec: str = ".3g") -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return "–"
    return f"{_fmt(ci[0], spec)} – {_fmt(ci[1], spec)}"


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["script_json"] = script_json
    env.filters["fmt"] = _fmt
    env.filters["interval"] = _interval
    env.filters["cell"] = _cell
    env.filters["yaml"] = _yaml
    return env


def _yaml(value: Any) -> str:
    """A mapping as YAML text (the page escapes it like any text)."""
    import yaml

    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=float("inf"))


@functools.cache
def _plotly_js() -> markupsafe.Markup:
    """plotly.js from the installed plotly package (inlined once per report; no CDN)."""
    from plotly.offline import get_plotlyjs

    # plotly.js is our own dependency's code, not user text; a literal "</script" cannot occur in it.
    code = get_plotlyjs()
    if any(marker in code.lower() for marker in ("</script", "<!--", "<script")):
        raise RuntimeError("this plotly.js contains script or comment markup and cannot be inlined as it is")
    return markupsafe.Markup(code)  # noqa: S704


def thumbnail(path: Path) -> str | None:
    """A JPEG data URI of the image at ``path``, at most THUMBNAIL_SIDE pixels a side; None if unreadable."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    except OSError:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(digest: dict[str, Any], root: str | Path) -> str:
    """The report page for ``digest``; thumbnails are made from the images in the run directory ``root``."""
    root = Path(root)
    thumbnails = {}
    for item in digest["items"]:
        for image in item["images"]:
            if image["image_path"]:
                uri = thumbnail(root / image["image_path"])
                if uri is not None:
                    thumbnails[image["record_id"]] = uri
    label_keys = sorted({key for item in digest["items"] for image in item["images"] for key in image["labels"]})
    label_values = {
        key: sorted(
            {image["labels"][key][0] for item in digest["items"] for image in item["images"] if key in image["labels"]}
        )
        for key in label_keys
    }
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            digest=digest,
            figures=report_figures(digest),
            thumbnails=thumbnails,
            label_values=label_values,
            plotly_js=_plotly_js(),
            many_prompts=len(digest["items"]) > 12,
            # Each check's row of the verdict table links to its own section.
            section_index={section["id"]: i for i, section in enumerate(digest.get("sections") or [])},
        )
    )
