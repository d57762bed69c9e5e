"""Skin-tone labels by eye on a run's generated faces: draw the sample, make blind contact sheets, check agreement.

The labels of the ``dcgan-faces`` run live in
``audit/classifiers/data/validation/dcgan_faces_eye_labels.json`` (no image: each label names its image by
item id, seed and the PNG's sha256). Commands::

    python -m benchmarks.face_labels sample RUN_DIR --out DIR      # the stratified sample and two sets of sheets
    python -m benchmarks.face_labels agreement LABELS.json         # agreement of the two passes, the consensus
    python -m benchmarks.face_labels manifest LABELS.json RUN_DIR --out labels.csv [--split test]
    python -m benchmarks.face_labels fit LABELS.json RUN_DIR         # the skin_tone 'render' calibration (fit half)
    python -m benchmarks.face_labels evaluate LABELS.json RUN_DIR    # the reading against the eye (test half)

``sample`` draws, with a recorded seed, a sample stratified by the classifier's Monk group as the run holds it
(so its dark readings are not all one sees), and writes numbered contact sheets (4 x 5 faces at 3x, no
reading shown) twice, in two different orders, for two passes that do not see each other. ``manifest`` writes
the CSV ``path,label,group`` that ``diffaudit validate-classifier`` reads (paths absolute; each
image's sha256 checked against the one labelled; ``group`` is the sample, 1 stratified or 2 random), from a run
made with the same config, for the images a run of the shipped config regenerates bit for bit.

``fit`` measures the skin index of the fit half's faces labelled light / medium / dark and fits an ordinal
logistic regression of the eye's group on it; its two cut points become anchors (Monk 4.5 and 7.5) of the
classifier's ``render`` calibration (with the index's 97.5th percentile at Monk 2) in
``audit/classifiers/data/skin_tone_calibration.json``. ``evaluate`` reads the held-out half with a calibration
and prints the agreement with the eye (raw, Cohen's kappa, which way the disagreements go), the confusion
matrix and the abstentions.
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
# The eye labels of the dcgan-faces run that ship with the package (audit/classifiers/data/PROVENANCE.md).
SHIPPED_LABELS = Path(__file__).resolve().parents[1] / "audit/classifiers/data/labels/dcgan_faces_skin_tone.json"
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
    """Cohen's kappa of two raters over the same items (:func:`audit.stats.cohen_kappa`; NaN where it is None)."""
    from audit.stats import cohen_kappa as kappa

    value = kappa(list(a), list(b))
    return float("nan") if value is None else value


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
    print(
        f"two passes over {len(items)} images: same label {same} ({same / len(items):.3f}), "
        f"Cohen's kappa {cohen_kappa(first, second):.3f}"
    )
    print("pass 1:", dict(Counter(first)))
    print("pass 2:", dict(Counter(second)))
    print("consensus:", dict(Counter(i["label"] for i in items)))
    table = pd.crosstab(pd.Series(first, name="pass 1"), pd.Series(second, name="pass 2"))
    print(table.to_string())


def labelled_images(labels: Path, run: Path, split: str | None) -> list[dict[str, Any]]:
    """The labelled items of ``split`` (all when None) whose image in ``run`` is the one labelled (same sha256)."""
    data = json.loads(labels.read_text())
    images = run_images(run).set_index("record_id")
    found = []
    for item in data["items"]:
        record = f"{item['item_id']}-{item['seed']}"
        if (split and item["split"] != split) or record not in images.index:
            continue
        path = run / images.loc[record, "path"]
        if path.exists() and sha256_of(path) == item["sha256"]:
            found.append({**item, "path": path})
    return found


def read_faces(items: Sequence[dict[str, Any]], calibration: str) -> list[dict[str, Any]]:
    """The skin_tone classifier's Monk group, level and skin index for each labelled image."""
    from PIL import Image

    from audit.classifiers.skin_tone import SkinToneClassifier, SkinToneParams

    classifier = SkinToneClassifier(SkinToneParams(calibration=calibration, monk_groups=True))
    rows = []
    for item in items:
        with Image.open(item["path"]) as image:
            result = classifier.measure(np.asarray(image.convert("RGB")))
        decided = {name: label for name, label, _ in result.labels}
        rows.append(
            {
                **item,
                "reading": decided["monk_group"],
                "level": decided["monk_skin_tone"],
                "face": decided["face_detected"],
                "skin_index": result.measurements["skin_index"],
            }
        )
    return rows


GROUPS = ("light", "medium", "dark")


def ordinal_cut_points(index: Sequence[float], groups: Sequence[str]) -> tuple[float, float]:
    """Cut points of the skin index between light|medium and medium|dark: maximum-likelihood ordinal logistic
    regression of the group (light < medium < dark) on the index."""
    from scipy.optimize import minimize
    from scipy.special import expit

    x = np.asarray(index, dtype=float)
    y = np.asarray([GROUPS.index(g) for g in groups])
    scale = float(x.std())

    def loss(v: np.ndarray) -> float:
        slope, first, gap = v
        second = first + np.exp(gap)
        eta = slope * x / scale
        p_light, p_dark = expit(first - eta), 1 - expit(second - eta)
        p = np.choose(y, [p_light, 1 - p_light - p_dark, p_dark])
        return float(-np.log(np.clip(p, 1e-12, 1)).sum())

    fit = minimize(
        loss, [-1.0, -1.0, 0.5], method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 10_000}
    )
    slope, first, gap = fit.x
    return first * scale / slope, (first + np.exp(gap)) * scale / slope


def command_fit(args: argparse.Namespace) -> None:
    from benchmarks.photo_validation import write_calibration

    items = [i for i in labelled_images(args.labels, args.run, "fit") if i["label"] in GROUPS]
    rows = [r for r in read_faces(items, "render") if r["reading"] != "unknown"]
    light_medium, medium_dark = ordinal_cut_points([r["skin_index"] for r in rows], [r["label"] for r in rows])
    limit = json.loads(
        (Path(__file__).parent.parent / "audit/classifiers/data/skin_tone_calibration.json").read_text()
    )["calibrations"]["photo"]["detectors"]["yunet"]["max_cheek_difference"]
    high = np.percentile([r["skin_index"] for r in rows], 97.5)
    fitted = {
        "detectors": {
            "yunet": {
                "anchors": [
                    {"index": round(float(high), 3), "monk": 2, "percentile": 97.5},
                    {"index": round(light_medium, 3), "monk": 4.5, "between": "light|medium"},
                    {"index": round(medium_dark, 3), "monk": 7.5, "between": "medium|dark"},
                ],
                "max_cheek_difference": limit,
                "n_measured": len(rows),
            }
        },
        "fitted_on": {
            "data": f"{args.labels.name}: the fit half of eye labels of dcgan-faces images (light / medium / dark; "
            "the classifier's abstentions left out)",
            "n_images": len(rows),
            "labels": dict(Counter(r["label"] for r in rows)),
            "anchor_rule": "maximum-likelihood ordinal logistic regression of the eye's group on the skin index; "
            "its cut points go to Monk positions 4.5 and 7.5 (the group bounds), the 97.5th percentile of the "
            "faces' index to Monk 2 (as the photo calibration's); below the medium|dark cut the medium segment's "
            "slope goes on (the fit half's few dark faces, 16, cannot place a second dark anchor)",
            "max_cheek_difference_rule": "the photo calibration's (YuNet)",
            "script": "python -m benchmarks.face_labels fit LABELS RUN_DIR",
        },
    }
    write_calibration("render", fitted)
    print(
        f"render calibration from {len(rows)} faces {dict(Counter(r['label'] for r in rows))}: "
        f"light|medium at index {light_medium:.3f}, medium|dark at {medium_dark:.3f}"
    )


def agreement_figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Agreement of the reading with the eye on faces both decided: raw (Wilson 95%), Cohen's kappa (bootstrap 95%),
    and the share of disagreements that read darker than the eye."""
    from audit.stats.intervals import wilson_interval

    both = [r for r in rows if r["label"] in GROUPS and r["reading"] in GROUPS]
    eye, reading = [r["label"] for r in both], [r["reading"] for r in both]
    same = sum(a == b for a, b in zip(eye, reading, strict=True))
    darker = sum(GROUPS.index(b) > GROUPS.index(a) for a, b in zip(eye, reading, strict=True))
    rng = np.random.default_rng(0)
    kappas = [
        cohen_kappa([eye[i] for i in draw], [reading[i] for i in draw])
        for draw in (rng.integers(0, len(both), len(both)) for _ in range(1000))
    ]
    low, high = wilson_interval(same, len(both))
    return {
        "n": len(both),
        "agreement": same / len(both),
        "agreement_ci": (float(low), float(high)),
        "kappa": cohen_kappa(eye, reading),
        "kappa_ci": tuple(float(v) for v in np.nanpercentile(kappas, [2.5, 97.5])),
        "disagreements": len(both) - same,
        "darker_share": darker / max(1, len(both) - same),
        "confusion": pd.crosstab(pd.Series(eye, name="eye"), pd.Series(reading, name="reading")),
    }


def command_evaluate(args: argparse.Namespace) -> None:
    items = labelled_images(args.labels, args.run, args.split)
    rows = read_faces(items, args.calibration)
    print(f"{len(items)} labelled images ({args.split or 'all'}), calibration {args.calibration}")
    eye_decided = [r for r in rows if r["label"] in GROUPS]
    print(
        f"eye light/medium/dark: {len(eye_decided)}; of these the classifier found no face in "
        f"{sum(r['face'] != 'yes' for r in eye_decided)} and abstained on "
        f"{sum(r['face'] == 'yes' and r['reading'] == 'unknown' for r in eye_decided)}"
    )
    parts = [("all", rows)] + [(f"sample {k}", [r for r in rows if r.get("sample") == k]) for k in (1, 2)]
    for name, part in parts:
        if not part:
            continue
        f = agreement_figures(part)
        print(
            f"\n{name}: {f['n']} faces both decided; agreement {f['agreement']:.3f} "
            f"(95% {f['agreement_ci'][0]:.3f}-{f['agreement_ci'][1]:.3f}), Cohen's kappa {f['kappa']:.3f} "
            f"(95% {f['kappa_ci'][0]:.3f}-{f['kappa_ci'][1]:.3f}); {f['disagreements']} disagreements, "
            f"{f['darker_share']:.2f} of them read darker than the eye"
        )
        print(f["confusion"].to_string())


def command_manifest(args: argparse.Namespace) -> None:
    """The CSV ``path,label,group,sha256,annotator`` of the labelled images found unchanged in ``run``: by default the
    light / medium / dark ones (the labels of ``monk_group``); with ``--all`` also 'not a face' (as
    ``not_a_person``) and ``unsure``, which ``validate-classifier`` sets aside and counts."""
    data = json.loads(args.labels.read_text())
    items = labelled_images(args.labels, args.run, args.split)
    wanted = [i for i in items if args.all or i["label"] in GROUPS]
    rows = [
        {
            "path": str(i["path"].resolve()),
            "label": "not_a_person" if i["label"] == "not a face" else i["label"],
            "group": f"sample {i['sample']}",
            "sha256": i["sha256"],
            "annotator": "consensus",
        }
        for i in wanted
    ]
    pd.DataFrame(rows, columns=["path", "label", "group", "sha256", "annotator"]).to_csv(args.out, index=False)
    asked = [i for i in data["items"] if not args.split or i["split"] == args.split]
    missing = len(asked) - len(items)
    print(
        f"wrote {len(rows)} labels to {args.out}"
        + (f"; {missing} images absent or changed in {args.run}" if missing else "")
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="without a command: the agreement of the two passes of the shipped labels (no run or image needed)",
    )
    sub = parser.add_subparsers(dest="command", required=False)
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
    manifest.add_argument("--all", action="store_true", help="also the images labelled 'not a face' or 'unsure'")
    fit = sub.add_parser("fit", help="fit the skin_tone render calibration on the fit half")
    fit.add_argument("labels", type=Path)
    fit.add_argument("run", type=Path)
    evaluate = sub.add_parser("evaluate", help="the reading against the eye on the held-out half")
    evaluate.add_argument("labels", type=Path)
    evaluate.add_argument("run", type=Path)
    evaluate.add_argument("--split", choices=["fit", "test"], default="test")
    evaluate.add_argument("--calibration", choices=["render", "photo", "swatch"], default="render")
    args = parser.parse_args(argv)
    if args.command is None:
        if not args.quick:
            parser.error("a command is needed (or --quick)")
        args.labels = SHIPPED_LABELS
        args.command = "agreement"
    commands = {
        "sample": command_sample,
        "agreement": command_agreement,
        "manifest": command_manifest,
        "fit": command_fit,
        "evaluate": command_evaluate,
    }
    commands[args.command](args)


if __name__ == "__main__":
    main()
