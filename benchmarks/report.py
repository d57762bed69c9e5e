"""Report size and speed on a large run: 30,000 images over the 555 occupation prompts.

    python -m benchmarks.report [--images-per-prompt 54] [--side 64] [--keep DIR] [--quick]

Builds a synthetic finished run — the built-in occupations suite, 64×64 PNG images, scores of a CLIP-like
perceived-gender classifier and a skin-tone-like Monk classifier, analysed under the default policy —
then times ``write_report`` (digest, report.html, summary.json, summary.md, junit.xml) and prints

    report_seconds: X    (goal < 60)
    report_mb: Y         (goal < 25; the size of report.html)

Building the run is not timed. The images are written straight into the run directory (with their
records) rather than through the run store's per-image fsyncs, which the report does not depend on.
``--quick``: one 16×16 image a prompt (555 images; seconds).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from audit.core.records import GenerationRecord
from audit.core.run_store import GENERATIONS, RunStore
from audit.findings import analyze_run, write_analysis
from probes import load_suite
from reports import write_report

GENDER = ("feminine", "masculine", "unknown")


def build_run(root: Path, images_per_prompt: int, side: int, seed: int = 0) -> int:
    """A finished, analysed run of the occupations suite; returns the number of images."""
    rng = np.random.default_rng(seed)
    items = load_suite("occupations").expand()
    seeds = list(range(images_per_prompt))
    config = {"name": root.name, "generator": {"type": "folder"}, "probes": [{"suite": "occupations"}]}
    lines, scores = [], []
    with RunStore.create(root, config=config, seeds={"occupations": seeds}) as store:
        store.write_probes(items)
        for item in items:
            share = (item.reference.get("pct_women") or 50.0) / 100
            folder = root / "images" / item.item_id
            folder.mkdir(parents=True)
            for s in seeds:
                pixels = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
                image = Image.fromarray(pixels).resize((side, side), Image.NEAREST)
                buffer = io.BytesIO()
                image.save(buffer, format="PNG")
                data = buffer.getvalue()
                rel = store.image_relpath(item.item_id, s)
                (root / rel).write_bytes(data)
                record_id = GenerationRecord.make_record_id(item.item_id, s)
                record = GenerationRecord(
                    record_id=record_id,
                    item_id=item.item_id,
                    seed=s,
                    generator="folder",
                    generator_config="benchmark",
                    image_path=rel,
                    sha256=hashlib.sha256(data).hexdigest(),
                    width=side,
                    height=side,
                    elapsed_s=0.0,
                )
                lines.append(json.dumps(record.as_dict(), sort_keys=True))
                p = min(0.98, max(0.02, share**0.8))
                top = rng.choice(3, p=[0.95 * p, 0.95 * (1 - p), 0.05])
                for j, label in enumerate(GENDER):
                    scores.append(
                        (record_id, "clip:ViT-L-14/openai", "perceived_gender_presentation", label, float(j == top))
                    )
                monk = "unknown" if rng.uniform() < 0.1 else str(int(rng.integers(1, 11)))
                scores.append((record_id, "skin_tone:haar-cielab", "monk_skin_tone", monk, 1.0))
        (root / GENERATIONS).write_text("\n".join(lines) + "\n", encoding="utf-8")
        store.write_table(
            "scores.parquet", pd.DataFrame(scores, columns=["record_id", "classifier", "attribute", "label", "prob"])
        )
    with RunStore.open(root) as store:
        write_analysis(store, analyze_run(store, "default"))
    return len(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images-per-prompt", type=int, default=54, help="555 prompts × 54 = 29,970 images")
    parser.add_argument("--side", type=int, default=64, help="image side in pixels")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run in this folder")
    parser.add_argument("--quick", action="store_true", help="one 16x16 image a prompt: seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.images_per_prompt, args.side = 1, 16
    work = Path(tempfile.mkdtemp(prefix="diffaudit-report-bench-"))
    root = (args.keep or work) / "run"
    try:
        started = time.perf_counter()
        images = build_run(root, args.images_per_prompt, args.side)
        print(f"built a run of {images} images over 555 prompts in {time.perf_counter() - started:.1f} s (not timed)")
        started = time.perf_counter()
        with RunStore.open(root) as store:
            written = write_report(store)
        seconds = time.perf_counter() - started
        sizes = {name: path.stat().st_size / 1e6 for name, path in written.items()}
        print("files: " + ", ".join(f"{name} {mb:.2f} MB" for name, mb in sizes.items()))
        print(f"report_seconds: {seconds:.1f}")
        print(f"report_mb: {sizes['report.html']:.1f}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
