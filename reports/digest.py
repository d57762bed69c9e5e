"""The digest: everything a report shows, as plain data, read from the run directory alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audit.core.run_store import FINDINGS, VALIDATION, RunStore


def build_digest(root: str | Path) -> dict[str, Any]:
    """A JSON-ready summary of one run: config, versions, prompts and their images."""
    store = RunStore.open(root, lock=False)
    info = store.run_info()
    items = store.probes()
    records = store.generations()
    by_item: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r.item_id, r.seed)):
        by_item.setdefault(record.item_id, []).append(
            {
                "record_id": record.record_id,
                "seed": record.seed,
                "image_path": record.image_path,
                "sha256": record.sha256,
                "error": record.error,
            }
        )
    ok = sum(r.ok for r in records)
    expected = len(store.pairs(items))
    return {
        "name": info["config"]["name"],
        "created": info.get("created"),
        "config": info["config"],
        "versions": info.get("versions", {}),
        "host": info.get("host", {}),
        "counts": {
            "prompts": len(items),
            "images_expected": expected,
            "images_ok": ok,
            "images_failed": len(records) - ok,
        },
        "screening": _screening_summary(items),
        "findings": _findings(Path(root)),
        "validation": _validation(Path(root)),
        "items": [
            {
                "item_id": item.item_id,
                "suite": item.suite,
                "prompt": item.prompt,
                "attributes": item.attributes,
                "screening": item.screening,
                "screening_category": item.screening_category,
                "images": by_item.get(item.item_id, []),
            }
            for item in items
        ],
    }


def _findings(root: Path) -> dict[str, Any] | None:
    """The analysis stage's findings.json, or None when the run has not been analysed."""
    path = root / FINDINGS
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _validation(root: Path) -> list[dict[str, Any]] | None:
    """Each scored attribute's classifier validation (accuracy and abstention, overall and per true group) or
    ``validated: False``; None when the run has no validation record (not scored by this version)."""
    path = root / VALIDATION
    if not path.is_file():
        return None
    out = []
    for entry in json.loads(path.read_text(encoding="utf-8")).get("attributes", []):
        summary = entry.get("summary") or {}
        row = {k: entry.get(k) for k in ("classifier", "attribute", "validated", "source")}
        if entry.get("validated"):
            row.update(
                n_images=summary.get("n_images"),
                accuracy=(summary.get("accuracy") or {}).get("value"),
                abstention=(summary.get("abstention") or {}).get("value"),
                group_by=summary.get("group_by"),
                by_group={
                    group: {
                        "n_images": figures.get("n_images"),
                        "accuracy": (figures.get("accuracy") or {}).get("value"),
                        "abstention": (figures.get("abstention") or {}).get("value"),
                    }
                    for group, figures in (summary.get("by_group") or {}).items()
                },
                group_gaps=summary.get("group_gaps"),
                data=summary.get("data"),
            )
        out.append(row)
    return out


def _screening_summary(items: list[Any]) -> dict[str, Any]:
    """Prompts blocked (not generated) and flagged (generated anyway); per suite, also by category."""
    return {
        "blocked": sum(item.screening == "blocked" for item in items),
        "flagged": sum(item.screening == "flagged" for item in items),
        "by_suite": _screening_by_suite(items),
    }


def _screening_by_suite(items: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.screening is None:
            continue
        row = out.setdefault(item.suite, {"screened": 0, "blocked": 0, "flagged": 0, "by_category": {}})
        row["screened"] += 1
        if item.screening in ("blocked", "flagged"):
            row[item.screening] += 1
            for category in (item.screening_category or "").split(","):
                if category:
                    row["by_category"][category] = row["by_category"].get(category, 0) + 1
    return out
