"""The JSON Schema of summary.json (``reports/summary.schema.json``), for readers that check what they parse."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def summary_schema() -> dict[str, Any]:
    """The schema (JSON Schema 2020-12) that every summary.json of this ``schema_version`` satisfies."""
    return json.loads((resources.files("reports") / "summary.schema.json").read_text(encoding="utf-8"))


def validate_summary(document: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``document`` is not a valid summary.json (needs ``jsonschema``)."""
    import jsonschema

    jsonschema.validate(document, summary_schema(), cls=jsonschema.Draft202012Validator)
