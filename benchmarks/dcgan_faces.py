"""The figures of the DCGAN face audit (``diffaudit run dcgan-faces``), and a contact sheet to check them by eye.

Run as ``python -m benchmarks.dcgan_faces RUN_DIR [--sheet sheet.png --faces 50] [--speed 512]``. From the
run directory alone it prints: images, the share with a face found, abstention, the Monk-level and
Monk-group distributions with 95% simultaneous (Goodman) intervals, the gate's verdict per check, and the
generation speed the records hold. ``--sheet`` draws the first ``--faces`` images (by seed) at 2x with the
Monk level the classifier assigned under each, for the look by eye; ``--speed N`` times N fresh images of
the generator in this process (model call and PNG encoding, batches of 64, on the CPU). ``--quick`` (no
RUN_DIR) makes a run of the ``dcgan-faces`` config at 16 seeds first, in a temporary folder, and reports on it
with a sheet of 8 faces and the speed of 64 images (seconds; the figures mean little).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from audit.stats.intervals import goodman_intervals, wilson_interval

SKIN = "skin_tone:"


def _labels(run: Path, attribute: str) -> pd.Series:
    scores = pd.read_parquet(run / "scores.parquet")
    rows = scores[scores["classifier"].str.startswith(SKIN) & (scores["attribute"] == attribute)]
    return rows.set_index("record_id")["label"]


def _share(count: int, n: int) -> str:
    low, high = wilson_interval(count, n)
    return f"{count}/{n} = {count / n:.3f} (95% CI {float(low):.3f}-{float(high):.3f})"


def distribution(labels: pd.Series, order: list[str]) -> pd.DataFrame:
    """Counts and shares of ``order`` among measured images, with Goodman simultaneous 95% intervals."""
    counts = np.array([(labels == name).sum() for name in order])
    low, high = goodman_intervals(counts)
    return pd.DataFrame(
        {"label": order, "count": counts, "share": counts / max(counts.sum(), 1), "ci_low": low, "ci_high": high}
    )


def report(run: Path) -> None:
    faces = _labels(run, "face_detected")
    monk = _labels(run, "monk_skin_tone")
    group = _labels(run, "monk_group")
    n = len(faces)
    found = int((faces == "yes").sum())
    measured = monk[monk != "unknown"]
    print(f"images: {n}")
    print(f"face found: {_share(found, n)}")
    print(f"abstained among faces found: {_share(int((monk[faces == 'yes'] == 'unknown').sum()), found)}")
    print(f"Monk level measured: {_share(len(measured), n)}")
    print("\nMonk level among measured faces (Goodman 95% simultaneous intervals):")
    levels = distribution(measured, [str(level) for level in range(1, 11)])
    print(levels.to_string(index=False, float_format="%.3f"))
    print("\nMonk group among measured faces:")
    groups = distribution(group[group != "unknown"], ["light", "medium", "dark"])
    print(groups.to_string(index=False, float_format="%.3f"))
    records = [json.loads(line) for line in (run / "generations.jsonl").read_text().splitlines()]
    elapsed = sum(r["elapsed_s"] or 0 for r in records)
    print(f"\ngeneration (model call, from the records): {len(records) / elapsed:.0f} images/s")
    verdict = json.loads((run / "summary.json").read_text())["verdict"]
    print(f"gate verdict: {verdict['status']} (policy {verdict['policy']})")
    for check in verdict["checks"]:
        worst = check.get("worst") or {}
        ci = ", ".join(f"{v:.3f}" for v in worst.get("ci") or [])
        value = worst.get("value", float("nan"))
        print(f"  {check['id']} ({check['attribute']}): {check['status']}, {value:.3f} [{ci}]")
    gender_and_age(run)


def _decided(run: Path, prefix: str, attribute: str) -> pd.Series:
    """Each image's decided label of ``attribute`` from the classifier whose id starts with ``prefix``."""
    scores = pd.read_parquet(run / "scores.parquet")
    rows = scores[scores["classifier"].str.startswith(prefix) & (scores["attribute"] == attribute)]
    rows = rows.sort_values(["record_id", "prob", "label"], ascending=[True, False, True])
    return rows.drop_duplicates("record_id").set_index("record_id")["label"]


def gender_and_age(run: Path) -> None:
    """Perceived gender and apparent age (issue 30's classifiers), overall and beside each Monk group."""
    gender = _decided(run, "perceived_gender:", "perceived_gender_presentation")
    if gender.empty:
        return
    age = _decided(run, "age:", "perceived_age")
    band = _decided(run, "age:", "age_band")
    group = _labels(run, "monk_group")
    print(f"\nperceived gender read: {_share(int((gender != 'unknown').sum()), len(gender))}")
    sets = {
        "perceived gender": (gender, ["feminine", "masculine"]),
        "apparent age (minor rule)": (age, ["child", "teen", "adult"]),
        "apparent age band (expected age)": (band, ["0-6", "7-12", "13-17", "18-24", "25-39", "40-59", "60+"]),
    }
    for title, (labels, order) in sets.items():
        print(f"\n{title} among faces read (Goodman 95% simultaneous intervals):")
        print(distribution(labels[labels != "unknown"], order).to_string(index=False, float_format="%.3f"))
        for name in ("light", "medium", "dark"):
            ids = group.index[group == name]
            within = labels.reindex(ids).dropna()
            table = distribution(within[within != "unknown"], order)
            cells = ", ".join(f"{r.label} {r.share:.3f} ({r.ci_low:.3f}-{r.ci_high:.3f})" for r in table.itertuples())
            print(f"  Monk {name} (n={int(table['count'].sum())}): {cells}")


def contact_sheet(run: Path, out: Path, count: int) -> None:
    """The first ``count`` images by seed, 2x, each with its seed and assigned Monk level (or no face / unknown)."""
    from PIL import Image, ImageDraw

    faces = _labels(run, "face_detected")
    monk = _labels(run, "monk_skin_tone")
    records = sorted(
        (json.loads(line) for line in (run / "generations.jsonl").read_text().splitlines()), key=lambda r: r["seed"]
    )[:count]
    columns, cell, caption = 10, 128, 16
    rows = -(-len(records) // columns)
    sheet = Image.new("RGB", (columns * cell, rows * (cell + caption)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, record in enumerate(records):
        x, y = (i % columns) * cell, (i // columns) * (cell + caption)
        image = Image.open(run / record["image_path"]).convert("RGB").resize((cell, cell), Image.NEAREST)
        sheet.paste(image, (x, y))
        rid = record["record_id"]
        label = "no face" if faces.get(rid) == "no" else f"MST {monk.get(rid)}"
        draw.text((x + 4, y + cell + 2), f"s{record['seed']}: {label}", fill="black")
    sheet.save(out)
    print(f"contact sheet: {out} ({len(records)} images)")


def speed(count: int) -> None:
    import torch

    from audit.core.run_store import RunStore
    from generators import PythonModelGenerator, PythonModelParams
    from probes import load_suite

    params = PythonModelParams(model="entry-point:dcgan-faces", latent_shape=[100, 1, 1], batch_size=64)
    items = load_suite("unconditional").expand()
    generator = PythonModelGenerator(params)
    generator.load()
    with tempfile.TemporaryDirectory() as folder, RunStore.create(Path(folder) / "run", config={}) as store:
        started = time.perf_counter()
        generator.generate(items, range(count), store)
        elapsed = time.perf_counter() - started
    threads = torch.get_num_threads()
    print(f"generation with PNG writes: {count / elapsed:.0f} images/s ({count} images, {threads} threads)")


def quick_run(folder: Path) -> Path:
    """The ``dcgan-faces`` audit at 16 seeds, made, scored, analysed and reported in ``folder``."""
    from audit import runner
    from audit.config import load_config
    from benchmarks.quick import with_seeds

    config = with_seeds(load_config("dcgan-faces"), 16)
    with runner.prepare(config, folder / "run") as store:
        runner.generate(store)
        runner.score(store)
        runner.analyze(store)
        runner.report(store)
    return folder / "run"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, nargs="?")
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--faces", type=int, default=50)
    parser.add_argument("--speed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="audit 16 seeds in a temporary folder first")
    args = parser.parse_args(argv)
    if args.quick:
        with tempfile.TemporaryDirectory() as folder:
            run = quick_run(Path(folder))
            main([str(run), "--sheet", str(Path(folder) / "sheet.png"), "--faces", "8", "--speed", "64"])
        return
    if args.run is None:
        parser.error("give a run directory (or --quick)")
    report(args.run)
    if args.sheet:
        contact_sheet(args.run, args.sheet, args.faces)
    if args.speed:
        speed(args.speed)


if __name__ == "__main__":
    main()
