"""Skin-tone labels by eye on a run's generated faces: draw the sample, make blind contact sheets, check agreement.

The labels of the ``dcgan-faces`` run live in
``audit/classifiers/data/validation/dcgan_faces_eye_labels.json`` (no image: each label names its image by
item id, seed and the PNG's sha256). Commands::

    python -m benchmarks.face_labels sample RUN_DIR --out DIR      # the stratified sample and two sets of sheets
    python -m benchmarks.face_labels agreement LABELS.json         # agreement of the two passes, the consensus
    python -m benchmarks.face_labels manifest LABELS.json RUN_DIR --out labels.csv [--split test]

``sample`` draws, with a recorded seed, a sample stratified by the classifier's Monk group as the run holds it
(so its dark readings are not all one sees), and writes numbered contact sheets (4 x 5 faces at 3x, no
reading shown) twice, in two different orders, for two passes that do not see each other. ``manifest`` writes
the CSV ``path,label,group`` that ``diffaudit validate-classifier`` reads (paths absolute; each image's
sha256 checked against the one labelled; ``group`` is the fit/test split), from a run made with the same
config, for the images a run of the shipped config regenerates bit for bit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LABELS = ("light", "medium", "dark", "not a face", "unsure")
# Keys typed while labelling a sheet (one character per face, in sheet order).
KEYS = {"l": "light", "m": "medium", "d": "dark", "n": "not a face", "u": "unsure"}
STRATA = {"light": 40, "medium": 60, "dark": 80, "unknown": 40, "no face": 20}
SHEET_ROWS, SHEET_COLUMNS, ZOOM = 4, 5, 3


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_images(run: Path) -> pd.DataFrame:
    """One row per image of a run: record id, item id, seed, path, and the skin-tone classifier's readings."""
    records = [json.loads(line) for line in (run / "generations.jsonl").read_text().splitlines() if line.strip()]
    images = pd.DataFrame(
        {
            "record_id": [f"{r['item_id']}-{r['seed']}" for r in records],
            "item_id": [r["item_id"] for r in records],
            "seed": [int(r["seed"]) for r in records],
            "path": [r["image_path"] for r in records],
        }
    ).drop_duplicates("record_id")
    scores = pd.read_parquet(run / "scores.parquet")
    scores = scores[scores["classifier"].str.startswith("skin_tone:")]
    wide = scores.pivot_table(index="record_id", columns="attribute", values="label", aggfunc="first")
    return images.merge(wide, left_on="record_id", right_index=True, how="left")


def stratum(row: Any) -> str:
    if row["face_detected"] != "yes":
        return "no face"
    return str(row["monk_group"])


def split_of(record_id: str, ranked: Sequence[str]) -> str:
    """``fit`` for the first half of the sample in sha256(record id) order, else ``test`` (at most half fit)."""
    return "fit" if ranked.index(record_id) < len(ranked) // 2 else "test"


def draw(run: Path, seed: int, simple: int = 0, exclude: Sequence[str] = ()) -> pd.DataFrame:
    """The stratified sample (``STRATA``), or with ``simple`` a simple random sample of that many images; images
    whose record id is in ``exclude`` (an earlier sample) are never drawn."""
    images = run_images(run)
    images["stratum"] = images.apply(stratum, axis=1)
    images = images[~images["record_id"].isin(set(exclude))].sort_values("seed")
    rng = np.random.default_rng(seed)
    if simple:
        sample = images.iloc[np.sort(rng.choice(len(images), size=simple, replace=False))].reset_index(drop=True)
    else:
        parts = []
        for name, size in STRATA.items():
            pool = images[images["stratum"] == name]
            chosen = rng.choice(len(pool), size=min(size, len(pool)), replace=False)
            parts.append(pool.iloc[np.sort(chosen)])
        sample = pd.concat(parts).reset_index(drop=True)
    sample["sha256"] = [sha256_of(run / p) for p in sample["path"]]
    ranked = sorted(sample["record_id"], key=lambda r: hashlib.sha256(r.encode()).hexdigest())
    sample["split"] = [split_of(r, ranked) for r in sample["record_id"]]
    return sample


def contact_sheets(run: Path, paths: Sequence[str], out: Path, prefix: str) -> list[Path]:
    """Numbered sheets of ``SHEET_ROWS x SHEET_COLUMNS`` faces (1-based numbers), enlarged ``ZOOM`` times."""
    from PIL import Image, ImageDraw

    per = SHEET_ROWS * SHEET_COLUMNS
    side, caption = 64 * ZOOM, 22
    sheets = []
    for start in range(0, len(paths), per):
        sheet = Image.new("RGB", (SHEET_COLUMNS * (side + 8), SHEET_ROWS * (side + caption)), (255, 255, 255))
        draw_ = ImageDraw.Draw(sheet)
        for k, rel in enumerate(paths[start : start + per]):
            with Image.open(run / rel) as image:
                face = image.convert("RGB").resize((side, side), Image.Resampling.NEAREST)
            x, y = (k % SHEET_COLUMNS) * (side + 8), (k // SHEET_COLUMNS) * (side + caption)
            draw_.text((x + 4, y + 4), str(k + 1), fill=(0, 0, 0))
            sheet.paste(face, (x, y + caption))
        path = out / f"{prefix}-{start // per + 1:02d}.png"
        sheet.save(path)
        sheets.append(path)
    return sheets


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two raters over the same items (NaN when chance agreement is 1)."""
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / n**2
    return float("nan") if expected == 1 else (observed - expected) / (1 - expected)


def consensus(first: str, second: str, third: str | None = None) -> str:
    """The passes' label when they agree; else a third look's label when given, else ``unsure``."""
    if first == second:
        return first
    return third if third is not None else "unsure"


def command_sample(args: argparse.Namespace) -> None:
    exclude = []
    if args.exclude:
        exclude = [f"{i['item_id']}-{i['seed']}" for i in json.loads(args.exclude.read_text())["items"]]
    sample = draw(args.run, args.seed, args.simple, exclude)
    args.out.mkdir(parents=True, exist_ok=True)
    keys = {}
    for number, order_seed in ((1, args.seed + 1), (2, args.seed + 2)):
        order = np.random.default_rng(order_seed).permutation(len(sample))
        paths = list(sample["path"].iloc[order])
        contact_sheets(args.run, paths, args.out, f"pass{number}")
        keys[f"pass{number}"] = list(sample["record_id"].iloc[order])
    (args.out / "sheet_keys.json").write_text(json.dumps(keys, indent=1) + "\n")
    columns = ["record_id", "item_id", "seed", "path", "sha256", "stratum", "split", "monk_skin_tone", "monk_group"]
    sample[columns].to_json(args.out / "sample.json", orient="records", indent=1)
    print(f"{len(sample)} images: {dict(Counter(sample['stratum']))}; splits {dict(Counter(sample['split']))}")
    print(f"sheets and keys in {args.out}")


def command_agreement(args: argparse.Namespace) -> None:
    data = json.loads(args.labels.read_text())
    items = data["items"]
    first, second = [i["pass1"] for i in items], [i["pass2"] for i in items]
    same = sum(a == b for a, b in zip(first, second, strict=True))
    print(f"two passes over {len(items)} images: same label {same} ({same / len(items):.3f}), "
          f"Cohen's kappa {cohen_kappa(first, second):.3f}")
    print("pass 1:", dict(Counter(first)))
    print("pass 2:", dict(Counter(second)))
    print("consensus:", dict(Counter(i["label"] for i in items)))
    table = pd.crosstab(pd.Series(first, name="pass 1"), pd.Series(second, name="pass 2"))
    print(table.to_string())


def command_manifest(args: argparse.Namespace) -> None:
    data = json.loads(args.labels.read_text())
    images = run_images(args.run).set_index("record_id")
    rows, missing = [], 0
    for item in data["items"]:
        if args.split and item["split"] != args.split:
            continue
        record = f"{item['item_id']}-{item['seed']}"
        path = args.run / images.loc[record, "path"] if record in images.index else None
        if path is None or not path.exists() or sha256_of(path) != item["sha256"]:
            missing += 1
            continue
        rows.append({"path": str(path.resolve()), "label": item["label"], "group": item["split"]})
    pd.DataFrame(rows).to_csv(args.out, index=False)
    print(f"wrote {len(rows)} labels to {args.out}" + (f"; {missing} images absent or changed" if missing else ""))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sample = sub.add_parser("sample", help="draw the stratified sample and make two sets of blind sheets")
    sample.add_argument("run", type=Path)
    sample.add_argument("--out", type=Path, required=True)
    sample.add_argument("--seed", type=int, default=29)
    sample.add_argument("--simple", type=int, default=0, help="a simple random sample of this many images instead")
    sample.add_argument("--exclude", type=Path, default=None, help="a labels file whose images are not drawn again")
    agreement = sub.add_parser("agreement", help="agreement of the two passes")
    agreement.add_argument("labels", type=Path)
    manifest = sub.add_parser("manifest", help="write the CSV path,label,group that validate-classifier reads")
    manifest.add_argument("labels", type=Path)
    manifest.add_argument("run", type=Path)
    manifest.add_argument("--out", type=Path, required=True)
    manifest.add_argument("--split", choices=["fit", "test"], default=None)
    args = parser.parse_args(argv)
    {"sample": command_sample, "agreement": command_agreement, "manifest": command_manifest}[args.command](args)


if __name__ == "__main__":
    main()
