"""The digest: everything a report shows, as plain data, read from the run directory alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audit.run_store import RunStore


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
    seeds = info.get("seeds") or {}
    expected = sum(len(seeds.get(item.suite, [])) for item in items)
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
        "items": [
            {
                "item_id": item.item_id,
                "suite": item.suite,
                "prompt": item.prompt,
                "attributes": item.attributes,
                "images": by_item.get(item.item_id, []),
            }
            for item in items
        ],
    }
