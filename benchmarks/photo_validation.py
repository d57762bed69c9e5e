"""Classifiers on real photographs: faces in tight crops, skin tone, and NudeNet's false positives.

Run as::

    python -m benchmarks.photo_validation --faces DIR --portraits DIR [--fit] [--out DIR]
    python -m benchmarks.photo_validation --quick --fitzpatrick PPB.csv --monk MSTE.csv [--faces DIR]

``--quick`` measures only the skin-tone reading with the package's constants (no detection-recall table, no Haar
or swatch comparison, no NudeNet, no fit): the Spearman correlations on the labelled photographs' test split and,
with ``--faces``, on UTKFace's race order; a few minutes on two cores instead of about fifteen.

``--faces``: a folder of UTKFace aligned-and-cropped face chips, named
``{age}_{gender}_{race}_{datetime}.jpg.chip.jpg`` (gender 0 man, 1 woman;
race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others). Adults (18-70) are
split by a hash of the file name into a *fit* split (40%) and a *test* split
(60%); each split is balanced by taking up to 40 (fit) or 60 (test) faces of
every race × gender cell.

``--portraits``: a folder (searched recursively) of ordinary clothed
portraits, for NudeNet's false-positive rate; split the same way.

``--fitzpatrick`` / ``--monk``: a CSV ``path,label,subject`` of face
photographs with a per-image skin-tone label (Fitzpatrick type 1-6, Monk level
1-10; paths relative to the CSV), e.g. PPB and the MST-E subset of
PROVENANCE.md; split by a hash of the file name like the rest.

``--fit`` fits the photo calibration of the skin-tone classifier (the anchors of
its skin index and the side-lighting limit, per detector) and NudeNet's
threshold on the fit splits and writes them to
``audit/classifiers/data/*_calibration.json`` (the ``render`` calibration is
fitted on eye labels of generated faces: ``python -m benchmarks.face_labels fit``). Without it, everything is
measured with the package's constants on the test splits only, which were
never used for fitting. ``--out`` writes validation files (the format of
``diffaudit validate-classifier``) for face detection per race group and for
NudeNet's exposed flag on the clothed portraits; the package ships the ones in
``audit/classifiers/data/validation/`` (attach them as ``builtin:NAME``).

Figures reported (the goals of issue 17 in brackets):

- face-detection recall per race group on tight crops, for Haar without
  padding, Haar with padding and YuNet with padding, with milliseconds per
  image [recall >= 0.95, no group more than 5 points below another];
- Monk levels per group with the default (photo) and the flat-swatch
  calibrations [darker groups reach 7-10, lighter ones 1-4], the share of
  measured faces at each Monk level (no level may be a pile-up at the scale's
  end), the Spearman
  correlation between Monk level and a group darkness order [>= 0.6]: the
  labelled Fitzpatrick type or Monk level, and the a-priori order White <
  Asian < Other < Indian < Black of UTKFace's race labels; abstention per
  group, and the within-group correlation of the skin index with the
  brightness of the background;
- NudeNet's exposed-part false-positive rate on clothed photographs, as
  NudeNet reports them (score >= 0.5) and after the calibrated threshold and
  face suppression [< 1%], and how often FACE_MALE outscores FACE_FEMALE on men.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.stats import spearmanr

from audit.classifiers.nudenet_detector import EXPLICIT_LABELS, NudeNetClassifier, NudeNetParams
from audit.classifiers.skin_tone import (
    SkinToneClassifier,
    SkinToneParams,
    srgb_to_lab,
    yunet_available,
)
from audit.classifiers.validation import IMAGE_SUFFIXES
from audit.commands.validate_classifier import validation_summary
from audit.core.constants import UNKNOWN

RACES = {0: "white", 1: "black", 2: "asian", 3: "indian", 4: "other"}
# The crude a-priori darkness order of the groups (UTKFace's "Others" are mostly Hispanic, Latino, Middle Eastern).
DARKNESS = {"white": 0, "asian": 1, "other": 2, "indian": 3, "black": 4}
FIT_SHARE = 4  # of 10 hash buckets
PER_CELL = {"fit": 40, "test": 60}
DATA = Path(__file__).resolve().parent.parent / "audit" / "classifiers" / "data"
# Anchors of the photo calibration: the pooled 2.5th and 97.5th percentiles of the skin index on a race-balanced
# adult set are taken to be Monk 9 and Monk 2 (the middle 95% of people spans the scale short of its ends).
ANCHORS = ((2.5, 9), (97.5, 2))


def split_of(name: str) -> str:
    """``fit`` or ``test``, from a hash of the file name (stable across machines and runs)."""
    return "fit" if int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % 10 < FIT_SHARE else "test"


def utkface_faces(folder: Path, split: str) -> list[dict[str, Any]]:
    """Adult UTKFace chips of one split, balanced over race × gender cells."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(folder.glob("*.jpg")):
        parts = path.name.split("_")
        if len(parts) < 4 or not all(p.isdigit() for p in parts[:3]):
            continue  # a few UTKFace names lack a field
        age, gender, race = int(parts[0]), int(parts[1]), int(parts[2])
        if 18 <= age <= 70 and race in RACES and split_of(path.name) == split:
            cells[(RACES[race], "man" if gender == 0 else "woman")].append({"path": path, "race": RACES[race]})
    faces = []
    for key in sorted(cells):
        ranked = sorted(cells[key], key=lambda f: hashlib.sha256(f["path"].name.encode()).hexdigest())
        faces.extend({**f, "gender": key[1]} for f in ranked[: PER_CELL[split]])
    return faces


def labelled_faces(table: Path) -> list[dict[str, Any]]:
    """Face photographs with a per-image skin-tone label, from a CSV with columns ``path`` (relative to the CSV's
    folder), ``label`` (an integer, darker skin higher) and ``subject``; each gets the split of its file name."""
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [
        {
            "path": table.parent / r["path"],
            "label": int(r["label"]),
            "subject": r.get("subject", ""),
            "split": split_of(Path(r["path"]).name),
        }
        for r in rows
    ]


def portraits(folder: Path, split: str) -> list[Path]:
    return [
        p
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in IMAGE_SUFFIXES and split_of(str(p.relative_to(folder))) == split
    ]


def rgb_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def decided(result: Any, attribute: str) -> str:
    rows = [(label, prob) for name, label, prob in result.labels if name == attribute]
    return max(rows, key=lambda r: (r[1], r[0] == UNKNOWN))[0]


def background_lightness(rgb: np.ndarray, box: tuple[int, int, int, int] | None) -> float:
    """Mean L* outside the face box (NaN when the box leaves less than 5% of the image)."""
    if box is None:
        return math.nan
    mask = np.ones(rgb.shape[:2], bool)
    x, y, w, h = box
    mask[y : y + h, x : x + w] = False
    return float(srgb_to_lab(rgb[mask].mean(axis=0))[0]) if mask.mean() >= 0.05 else math.nan


def lfw_non_faces() -> list[np.ndarray]:
    """The 100 non-face crops of scikit-image's LFW subset, as RGB uint8."""
    import skimage

    data = np.load(Path(skimage.__file__).parent / "data" / "lfw_subset.npy")[100:]
    return list(np.repeat((data * 255).round().astype(np.uint8)[..., None], 3, axis=-1))


def measure_faces(faces: list[dict[str, Any]], classifier: SkinToneClassifier) -> list[dict[str, Any]]:
    rows = []
    for face in faces:
        rgb = rgb_of(face["path"])
        result = classifier.measure(rgb)
        found = classifier.faces(rgb)
        rows.append(
            {
                **face,
                "face": decided(result, "face_detected"),
                "monk": decided(result, "monk_skin_tone"),
                "ita_category": decided(result, "ita_category"),
                **result.measurements,
                "background_l": background_lightness(rgb, found[0].box if found else None),
            }
        )
    return rows


def detection_recall(faces: list[dict[str, Any]], detector: str, pad: float) -> tuple[dict[str, float], float]:
    """Share of faces found per race group, and milliseconds per image."""
    classifier = SkinToneClassifier(SkinToneParams(detector=detector, pad=pad))
    found: dict[str, list[bool]] = defaultdict(list)
    start = time.perf_counter()
    for face in faces:
        found[face["race"]].append(bool(classifier.faces(rgb_of(face["path"]))))
    elapsed = (time.perf_counter() - start) / len(faces)
    recall = {race: float(np.mean(v)) for race, v in sorted(found.items())}
    recall["all"] = float(np.mean([x for v in found.values() for x in v]))
    return recall, 1000 * elapsed


def fit_skin_tone(faces: list[dict[str, Any]], detectors: list[str]) -> dict[str, Any]:
    """Each detector's photo calibration (side-lighting limit, anchors of the skin index), fitted on the fit split."""
    (p_low, level_low), (p_high, level_high) = ANCHORS
    fitted: dict[str, Any] = {}
    for detector in detectors:
        # The skin index (which no calibration constant changes) of the sample the photo calibration uses.
        params = SkinToneParams(detector=detector, calibration="photo", max_cheek_difference=1e9)
        rows = measure_faces(faces, SkinToneClassifier(params))
        difference = np.array([r["cheek_difference"] for r in rows if not math.isnan(r["cheek_difference"])])
        limit = math.ceil(2 * float(np.quantile(difference, 0.975))) / 2
        index = np.array(
            [r["skin_index"] for r in rows if not math.isnan(r["skin_index"]) and not r["cheek_difference"] > limit]
        )
        low, high = np.percentile(index, [p_low, p_high])
        fitted[detector] = {
            "anchors": [
                {"index": round(float(low), 3), "monk": level_low, "percentile": p_low},
                {"index": round(float(high), 3), "monk": level_high, "percentile": p_high},
            ],
            "max_cheek_difference": limit,
            "n_measured": int(len(index)),
        }
    groups = Counter(f"{f['race']}/{f['gender']}" for f in faces)
    return {
        "detectors": fitted,
        "fitted_on": {
            "data": "UTKFace aligned-and-cropped face chips (adults 18-70), "
            "fit split: sha256(file name) bucket < 4 of 10",
            "n_images": len(faces),
            "cells": dict(sorted(groups.items())),
            "anchor_rule": "the pooled 2.5th and 97.5th percentiles of the skin index go to Monk positions 9 and 2",
            "max_cheek_difference_rule": "97.5th percentile of the fit split's cheek lightness difference (L*), "
            "rounded up to 0.5",
            "script": "python -m benchmarks.photo_validation --faces DIR --portraits DIR --fit",
        },
    }


def write_calibration(name: str, fitted: dict[str, Any]) -> None:
    """Replace one calibration (``photo`` or ``render``) in the skin-tone calibration file, keeping the others."""
    from audit.classifiers import skin_tone

    path = DATA / "skin_tone_calibration.json"
    data = json.loads(path.read_text())
    data["calibrations"][name] = fitted
    path.write_text(json.dumps(data, indent=2) + "\n")
    skin_tone._calibrations.cache_clear()  # the classifier reads its constants once per process


def nudenet_flags(paths: list[Path], classifier: NudeNetClassifier) -> list[dict[str, Any]]:
    rows = []
    for path in paths:
        with Image.open(path) as image:
            bgr = classifier.prepare([image])[0]
        detections = classifier.detector.detect(bgr)
        raw = max((d["score"] for d in detections if d["class"] in EXPLICIT_LABELS), default=0.0)
        on_faces = classifier.explicit_detections(detections, classifier.face_boxes(bgr))
        kept = max((d["score"] for d in on_faces), default=0.0)
        scores = {d["class"]: d["score"] for d in detections}
        rows.append(
            {
                "path": path,
                "raw": raw,
                "kept": kept,
                "face_male": scores.get("FACE_MALE", 0.0),
                "face_female": scores.get("FACE_FEMALE", 0.0),
            }
        )
    return rows


def fit_nudenet(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The least threshold (>= 0.5, steps of 0.05) whose false-positive rate on the fit split is at most 0.5%."""
    for step in range(10, 20):
        threshold = step / 20
        rate = float(np.mean([r["kept"] >= threshold for r in rows]))
        if rate <= 0.005:
            break
    return {
        "threshold": threshold,
        "max_face_overlap": 0.5,
        "fitted_on": {
            "data": "clothed portraits (Pixabay) and UTKFace face chips, fit split: sha256(file name) bucket < 4 of 10",
            "n_images": len(rows),
            "false_positive_rate_fit": rate,
            "rule": "least threshold >= 0.5 in steps of 0.05 whose false-positive rate on the fit split is <= 0.5%",
            "script": "python -m benchmarks.photo_validation --faces DIR --portraits DIR --fit",
        },
    }


def wilson(k: int, n: int) -> str:
    from audit.stats.intervals import wilson_interval

    low, high = wilson_interval(k, n, 0.95)
    return f"{k}/{n} = {k / n:.4f} (95% CI {low:.4f}-{high:.4f})"


def monk_levels(group: list[dict[str, Any]]) -> tuple[list[int], int]:
    """The Monk levels measured in ``group``, and how many of its found faces got none (abstentions)."""
    levels = [int(r["monk"]) for r in group if r["monk"] != UNKNOWN]
    return levels, sum(r["face"] == "yes" and r["monk"] == UNKNOWN for r in group)


def report_skin_tone(rows: list[dict[str, Any]], label: str) -> dict[str, Any]:
    races = sorted({r["race"] for r in rows}, key=DARKNESS.get)
    print(f"\n## skin tone, {label} ({len(rows)} test faces)")
    print("group   n  abstain  monk 1-10 counts                       median  in 1-4  in 7-10  median index")
    summary: dict[str, Any] = {}
    for race in races:
        group = [r for r in rows if r["race"] == race]
        levels, abstain = monk_levels(group)
        counts = Counter(levels)
        index = [r["skin_index"] for r in group if not math.isnan(r["skin_index"])]
        summary[race] = {
            "n": len(group),
            "abstained": abstain,
            "median": float(np.median(levels)) if levels else None,
            "in_1_4": sum(1 <= v <= 4 for v in levels),
            "in_7_10": sum(7 <= v <= 10 for v in levels),
        }
        print(
            f"{race:7s} {len(group):3d}  {abstain:3d}      {[counts.get(i, 0) for i in range(1, 11)]}  "
            f"{summary[race]['median']}  {summary[race]['in_1_4']:3d}    {summary[race]['in_7_10']:3d}      "
            f"{np.median(index):.1f}"
        )
    measured = [r for r in rows if r["monk"] != UNKNOWN]
    order = [DARKNESS[r["race"]] for r in measured]
    rho5 = spearmanr([int(r["monk"]) for r in measured], order)[0]
    four = [r for r in measured if r["race"] != "other"]
    rho4 = spearmanr([int(r["monk"]) for r in four], [DARKNESS[r["race"]] for r in four])[0]
    rho_index = spearmanr([-r["skin_index"] for r in measured], order)[0]
    leak = [
        spearmanr([r["skin_index"] for r in g], [r["background_l"] for r in g])[0]
        for race in races
        if len(g := [r for r in measured if r["race"] == race and not math.isnan(r["background_l"])]) > 5
    ]
    means = {race: float(np.mean([int(r["monk"]) for r in measured if r["race"] == race])) for race in races}
    rho_groups = spearmanr([means[race] for race in races], [DARKNESS[race] for race in races])[0]
    print(f"spearman(monk, darkness order White<Asian<Other<Indian<Black) = {rho5:.3f} on {len(measured)} faces")
    print(
        "group mean Monk level: "
        + ", ".join(f"{race} {m:.2f}" for race, m in means.items())
        + f"; spearman(group mean, order) = {rho_groups:.3f}"
    )
    print(
        f"spearman without 'other' (White<Asian<Indian<Black) = {rho4:.3f}; "
        f"spearman(-skin index, order) = {rho_index:.3f}"
    )
    print(f"within-group spearman(skin index, background L*): mean {np.mean(leak):.3f}, per group {np.round(leak, 3)}")
    print(level_shares(measured))
    return {
        "groups": summary,
        "spearman": rho5,
        "spearman_without_other": rho4,
        "background_leak": float(np.mean(leak)),
    }


def report_labelled(rows: list[dict[str, Any]], scale: str, label: str) -> dict[str, Any]:
    """Monk levels against a per-image skin-tone label (Fitzpatrick type or Monk level): distribution, abstention,
    and the Spearman correlation on the test split and on all images."""
    print(f"\n## skin tone against {scale} labels, {label} ({len(rows)} images)")
    print(f"{scale:11s}  n  no face  abstain  monk 1-10 counts                        median")
    summary: dict[str, Any] = {}
    for value in sorted({r["label"] for r in rows}):
        group = [r for r in rows if r["label"] == value]
        levels, abstain = monk_levels(group)
        counts = Counter(levels)
        no_face = sum(r["face"] != "yes" for r in group)
        median = float(np.median(levels)) if levels else None
        summary[str(value)] = {"n": len(group), "no_face": no_face, "abstained": abstain, "median": median}
        print(
            f"{value:<9d} {len(group):4d}  {no_face:4d}    {abstain:4d}     "
            f"{[counts.get(i, 0) for i in range(1, 11)]}  {median}"
        )
    result: dict[str, Any] = {"groups": summary}
    for part in ("test", "all"):
        measured = [r for r in rows if r["monk"] != UNKNOWN and part in ("all", r["split"])]
        if len(measured) < 3:
            continue
        levels, truth = [int(r["monk"]) for r in measured], [r["label"] for r in measured]
        rho = spearmanr(levels, truth)[0]
        low, high = bootstrap_spearman(levels, truth)
        result[f"spearman_{part}"] = rho
        line = (
            f"spearman(monk, {scale}) on {part} = {rho:.3f} "
            f"(95% bootstrap {low:.2f}-{high:.2f}; {len(measured)} measured)"
        )
        if scale == "monk":
            off = [abs(int(r["monk"]) - r["label"]) for r in measured]
            line += (
                f"; exact {np.mean([o == 0 for o in off]):.2f}, within one level {np.mean([o <= 1 for o in off]):.2f}"
            )
        print(line)
    print(level_shares([r for r in rows if r["monk"] != UNKNOWN]))
    return result


def bootstrap_spearman(x: list[int], y: list[int], draws: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of Spearman's rho over images."""
    rng = np.random.default_rng(seed)
    x_, y_ = np.asarray(x), np.asarray(y)
    rhos = [spearmanr(x_[i], y_[i])[0] for i in (rng.integers(0, len(x_), len(x_)) for _ in range(draws))]
    low, high = np.nanpercentile(rhos, [2.5, 97.5])
    return float(low), float(high)


def level_shares(measured: list[dict[str, Any]]) -> str:
    """The share of measured faces at each Monk level (a level holding a pile-up at the scale's end shows here)."""
    counts = Counter(int(r["monk"]) for r in measured)
    n = max(1, len(measured))
    return "share at Monk 1-10: " + " ".join(f"{level}:{counts.get(level, 0) / n:.3f}" for level in range(1, 11))


def write_face_validations(rows: list[dict[str, Any]], out: Path) -> None:
    """Validation files of face detection on the UTKFace test split (and scikit-image's LFW non-face crops) for the
    default (photo) and the render calibration: the same detector with the same settings, so the same decisions;
    each file carries its classifier's id, so a config attaches the one of the calibration it uses."""
    out.mkdir(parents=True, exist_ok=True)
    non_faces = lfw_non_faces()  # negatives make it a two-sided validation (real photographs)
    for name, params in (("skin_tone_face_detected", SkinToneParams()), ("skin_tone_render_face_detected", None)):
        if params is None:
            if not yunet_available():
                continue
            params = SkinToneParams(calibration="render")
        classifier = SkinToneClassifier(params)
        non_face_calls = [decided(classifier.measure(image), "face_detected") for image in non_faces]
        print(f"{classifier.classifier_id}: face detected on LFW non-face crops {non_face_calls.count('yes')}/100")
        summary = validation_summary(
            classifier,
            "face_detected",
            truths=["yes"] * len(rows) + ["no"] * len(non_faces),
            predicted=[r["face"] for r in rows] + non_face_calls,
            groups=[r["race"] for r in rows] + ["non-face (LFW crops)"] * len(non_faces),
            source="UTKFace face chips, test split (audit/classifiers/data/PROVENANCE.md)",
            description="UTKFace aligned-and-cropped face chips, adults 18-70, test split (sha256 bucket >= 4 of 10), "
            "balanced race x gender, each holding one face (UTKFace: non-commercial research use); and the 100 "
            "non-face 25x25 crops of scikit-image's lfw_subset (BSD-3-Clause), which hold none. Face detection does "
            "not depend on the calibration: the photo and render set-ups make the same decisions.",
        )
        (out / f"{name}.json").write_text(json.dumps(summary, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=None, help="UTKFace chips folder")
    parser.add_argument("--portraits", type=Path, default=None, help="clothed portraits folder (recursive)")
    parser.add_argument(
        "--fitzpatrick",
        type=Path,
        default=None,
        help="CSV of face photographs with Fitzpatrick types (path,label,subject)",
    )
    parser.add_argument(
        "--monk", type=Path, default=None, help="CSV of face photographs with Monk levels (path,label,subject)"
    )
    parser.add_argument("--fit", action="store_true", help="fit the calibrations on the fit splits and write them")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 UTKFace faces per race x gender cell, the default reading only (no fallback, no swatches): seconds",
    )
    parser.add_argument("--out", type=Path, default=None, help="write validation files here")
    args = parser.parse_args(argv)
    if args.fit and (args.quick or args.faces is None):
        parser.error("--fit needs --faces and no --quick")
    if args.out and (args.quick or args.faces is None):
        parser.error("--out needs --faces and no --quick")
    if args.quick:
        PER_CELL.update(fit=2, test=3)

    if args.fit:
        faces_fit = utkface_faces(args.faces, "fit")
        fitted = fit_skin_tone(faces_fit, ["yunet", "haar"] if yunet_available() else ["haar"])
        write_calibration("photo", fitted)
        print("skin tone photo calibration:", json.dumps(fitted["detectors"]))
        if args.portraits is not None:
            nudenet = NudeNetClassifier(NudeNetParams(threshold=0.5))
            nudenet.load()
            fit_rows = nudenet_flags(portraits(args.portraits, "fit") + [f["path"] for f in faces_fit], nudenet)
            nn = fit_nudenet(fit_rows)
            (DATA / "nudenet_calibration.json").write_text(json.dumps(nn, indent=2) + "\n")
            print("nudenet calibration:", nn["threshold"], nn["fitted_on"]["false_positive_rate_fit"])
            from audit.classifiers import nudenet_detector

            nudenet_detector.nudenet_calibration.cache_clear()  # the classifier reads its constants once

    default = SkinToneClassifier()
    swatch = SkinToneClassifier(SkinToneParams(calibration="swatch"))
    faces: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    if args.faces is not None:
        faces = utkface_faces(args.faces, "test")
        print(f"# test split: {len(faces)} UTKFace faces, {Counter(f['race'] for f in faces)}")
    if faces:
        print("\n## face detection recall on tight crops (test split)")
        detectors = [("haar", 0.0), ("haar", 0.25)] + ([("yunet", 0.0), ("yunet", 0.25)] if yunet_available() else [])
        for detector, pad in detectors:
            recall, ms = detection_recall(faces, detector, pad)
            groups = {k: v for k, v in recall.items() if k != "all"}
            gap = max(groups.values()) - min(groups.values())
            print(
                f"{detector:5s} pad {pad:.2f}: all {recall['all']:.3f}  "
                + "  ".join(f"{k} {v:.3f}" for k, v in groups.items())
                + f"  largest gap {100 * gap:.1f} points  {ms:.1f} ms/image"
            )
    if faces:
        rows = measure_faces(faces, default)
        report_skin_tone(rows, f"default {default.classifier_id}")
    if faces and not args.quick:
        if default.detector != "haar":
            haar = SkinToneClassifier(SkinToneParams(detector="haar"))
            report_skin_tone(measure_faces(faces, haar), f"fallback {haar.classifier_id}")
        report_skin_tone(measure_faces(faces, swatch), f"flat swatches {swatch.classifier_id}")

    for scale, table in (("fitzpatrick", args.fitzpatrick), ("monk", args.monk)):
        if table is not None:
            labelled = labelled_faces(table)
            report_labelled(measure_faces(labelled, default), scale, f"default {default.classifier_id}")
            if scale == "fitzpatrick" and not args.quick:
                report_labelled(measure_faces(labelled, swatch), scale, "flat swatches")

    if args.out:
        write_face_validations(rows, args.out)
    if args.portraits is None or not faces:
        return
    nudenet = NudeNetClassifier()
    nudenet.load()
    test_portraits = portraits(args.portraits, "test")
    nn_rows = nudenet_flags(test_portraits + [f["path"] for f in faces], nudenet)
    threshold = nudenet.params.threshold
    print(
        f"\n## NudeNet on {len(nn_rows)} clothed photographs "
        f"(test split: {len(test_portraits)} portraits, {len(faces)} face chips)"
    )
    raw = sum(r["raw"] >= 0.5 for r in nn_rows)
    kept = sum(r["kept"] >= threshold for r in nn_rows)
    print(f"as NudeNet reports (explicit part, score >= 0.5): {wilson(raw, len(nn_rows))}")
    print(f"ours (threshold {threshold}, detections on faces dropped): {wilson(kept, len(nn_rows))}")
    for r in nn_rows:
        if r["raw"] >= 0.5:
            print(f"  flagged by NudeNet: {r['path'].name} score {r['raw']:.2f} -> ours {r['kept']:.2f}")
    men = [r for r in nn_rows if r["path"].parent.name == "man" or r["path"].name.split("_")[1:2] == ["0"]]
    male_wins = sum(r["face_male"] > r["face_female"] for r in men)
    print(f"FACE_MALE above FACE_FEMALE on men: {wilson(male_wins, len(men))}")

    if args.out:
        sources = ["portrait" if r["path"].is_relative_to(args.portraits) else "face chip" for r in nn_rows]
        nudity_validation = validation_summary(
            nudenet,
            "nudenet_exposed",
            truths=["no"] * len(nn_rows),
            predicted=["yes" if r["kept"] >= threshold else "no" for r in nn_rows],
            groups=sources,
            source="Pixabay portraits and UTKFace face chips, test split (audit/classifiers/data/PROVENANCE.md)",
            description="Clothed photographs, test split: Pixabay portraits (Pixabay Content License) and UTKFace "
            "face chips; none shows nudity, so every 'yes' is a false positive.",
        )
        (args.out / "nudenet_exposed.json").write_text(json.dumps(nudity_validation, indent=2) + "\n")
        print(f"\nvalidation files in {args.out}")


if __name__ == "__main__":
    main()
