"""The ``age`` and ``perceived_gender`` classifiers on labelled real faces, minors included.

Run as::

    python -m benchmarks.age_gender_validation --utkface DIR --fgnet DIR --ppb DIR [--fit] [--out DIR] [--quick]

Sources (provenance and licences: ``audit/classifiers/data/PROVENANCE.md``):

- ``--utkface``: UTKFace aligned-and-cropped chips ``{age}_{gender}_{race}_*.jpg.chip.jpg`` (true age 0-116,
  gender 0 man / 1 woman, race 0 White, 1 Black, 2 Asian, 3 Indian, 4 Others). Split by a hash of the file
  name (fit 40%, test 60%), each split balanced over age band x gender x race cells (up to 20 / 30 a cell).
- ``--fgnet``: the FG-NET ageing database (1,002 photographs of 82 people, true ages 0-69, most under 18;
  ``images/`` and ``annotations.csv`` with ``filename,person_id,age``). Split by a hash of the *person*, so no
  one is in both splits. No gender label: age only.
- ``--ppb``: the Pilot Parliaments Benchmark (Gender Shades; 1,270 members of parliament, gender and a
  dermatologist's Fitzpatrick type I-VI; ``imgs/`` and ``PPB-2017-metadata.csv``). Adults of unknown age:
  gender accuracy per gender x skin type, and the apparent-minor flag rate on adults.

``--fit`` chooses on the fit split, and writes to ``audit/classifiers/data/age_gender_calibration.json``:
the crop of each network (dlib-aligned at padding 0.1-0.4 or the detector's square box widened by 0-30%;
age by the mean over the seven age bands of the mean absolute error, gender by the mean over gender x group
cells of the accuracy) and the apparent-minor threshold (the largest P(age < 18) threshold whose recall on
13-17-year-olds of the fit split is at least ``--target-recall``). Without ``--fit`` the package's choices
are measured. Everything reported is measured on the test split with the package's classifiers (the same
code a run uses); ``--out`` writes the validation files (the format of ``diffaudit validate-classifier``)
that the package ships in ``audit/classifiers/data/validation/``.

``--quick``: a few images a cell (about a minute), to check the script runs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from audit.classifiers.age_gender import (
    AGE_BANDS,
    POLICY_BANDS,
    AgeClassifier,
    AgeParams,
    FaceNetworkParams,
    PerceivedGenderClassifier,
    age_weights,
    band_of,
    network_probabilities,
)
from audit.classifiers.face_chips import face_chip
from audit.classifiers.scoring import iter_results
from audit.classifiers.skin_tone import SkinToneClassifier, SkinToneParams, detect_faces
from audit.commands.validate_classifier import validation_summary
from audit.core.constants import UNKNOWN
from audit.stats import clopper_pearson
from benchmarks.photo_validation import RACES, rgb_of, split_of

DATA = Path(__file__).resolve().parent.parent / "audit" / "classifiers" / "data"
CROPS = [("aligned", p) for p in (0.1, 0.2, 0.3, 0.4)] + [("box", p) for p in (0.0, 0.1, 0.2, 0.3)]
PER_CELL = {"fit": 20, "test": 30}
QUICK_PER_CELL = {"fit": 2, "test": 3}
# The apparent-minor rule's family: a minor when P(age < cutoff) >= threshold (cutoff 18 is P(minor) itself;
# a higher cutoff lets the rule reach teens the networks read as young adults).
CUTOFFS = (18, 20, 22, 25, 28, 30, 35)
THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)
GENDER_SHADES_GAP = 34.4  # points: darker-skinned women vs lighter-skinned men, worst commercial system (2018)


# --- the labelled images ------------------------------------------------------------------------------


def _rank(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def utkface(folder: Path, split: str, per_cell: int) -> list[dict[str, Any]]:
    cells: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(folder.glob("*.jpg")):
        parts = path.name.split("_")
        if len(parts) < 4 or not all(p.isdigit() for p in parts[:3]) or int(parts[2]) not in RACES:
            continue
        age, gender, race = int(parts[0]), int(parts[1]), RACES[int(parts[2])]
        if split_of(path.name) != split:
            continue
        item = {"path": path, "source": "utkface", "age": age, "gender": "masculine" if gender == 0 else "feminine"}
        cells[(band_of(age), item["gender"], race)].append({**item, "group": race})
    out = []
    for key in sorted(cells):
        out.extend(sorted(cells[key], key=lambda f: _rank(f["path"].name))[:per_cell])
    return out


def fgnet(folder: Path, split: str, limit: int | None) -> list[dict[str, Any]]:
    with (folder / "annotations.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    items = [
        {
            "path": folder / "images" / r["filename"],
            "source": "fgnet",
            "age": int(r["age"]),
            "gender": None,
            "group": "fgnet",
            "person": r["person_id"],
        }
        for r in rows
        if split_of(f"fgnet-person-{int(r['person_id'])}") == split
    ]
    items.sort(key=lambda f: _rank(f["path"].name))
    return items[:limit] if limit else items


def ppb(folder: Path, split: str, limit: int | None) -> list[dict[str, Any]]:
    text = (folder / "PPB-2017-metadata.csv").read_text(encoding="utf-8", errors="replace").replace("\r", "\n")
    rows = list(csv.DictReader(line for line in text.splitlines() if line.strip()))
    items = [
        {
            "path": folder / "imgs" / r["filename"],
            "source": "ppb",
            "age": None,
            "gender": "feminine" if r["gender"].lower().startswith("f") else "masculine",
            "group": r["bi.fitz"],
            "fitzpatrick": int(r["fitzpatrick skin type category"]),
        }
        for r in rows
        if r.get("filename") and split_of(r["filename"]) == split
    ]
    items.sort(key=lambda f: _rank(f["path"].name))
    if limit:  # keep every gender x skin cell in a short run
        cells: dict[tuple, list] = defaultdict(list)
        for item in items:
            cells[(item["gender"], item["group"])].append(item)
        items = [i for cell in cells.values() for i in cell[: max(1, limit // 4)]]
    return items


# --- the fit: crops and the apparent-minor threshold --------------------------------------------------


def crop_outputs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per image: whether a face was found and, for every candidate crop, the age bins and P(female)."""
    rows = []
    for item in items:
        rgb = rgb_of(item["path"])
        faces = detect_faces(rgb)
        row = {**item, "found": bool(faces) and min(faces[0].box[2:]) >= 24}
        if row["found"]:
            ages = network_probabilities("age", [face_chip(rgb, faces[0], 64, crop=c, padding=p) for c, p in CROPS])
            genders = network_probabilities(
                "gender", [face_chip(rgb, faces[0], 32, crop=c, padding=p) for c, p in CROPS]
            )
            row["age_bins"] = {crop: ages[i].astype(np.float64) for i, crop in enumerate(CROPS)}
            row["p_female"] = {crop: float(genders[i][0]) for i, crop in enumerate(CROPS)}
        rows.append(row)
    return rows


def cached_crop_outputs(items: list[dict[str, Any]], cache: Path | None) -> list[dict[str, Any]]:
    """:func:`crop_outputs`, read from ``cache`` when it holds the same images, else computed and written there."""
    keys = [str(item["path"]) for item in items]
    if cache is not None and cache.is_file():
        stored = json.loads(cache.read_text())
        if stored["keys"] == keys:
            rows = []
            for item, row in zip(items, stored["rows"], strict=True):
                out = {**item, "found": row["found"]}
                if row["found"]:
                    out["age_bins"] = {c: np.asarray(row["age_bins"][f"{c[0]}:{c[1]}"]) for c in CROPS}
                    out["p_female"] = {c: row["p_female"][f"{c[0]}:{c[1]}"] for c in CROPS}
                rows.append(out)
            return rows
    rows = crop_outputs(items)
    if cache is not None:
        plain = [
            {"found": r["found"]}
            | (
                {
                    "age_bins": {f"{c[0]}:{c[1]}": r["age_bins"][c].round(7).tolist() for c in CROPS},
                    "p_female": {f"{c[0]}:{c[1]}": r["p_female"][c] for c in CROPS},
                }
                if r["found"]
                else {}
            )
            for r in rows
        ]
        cache.write_text(json.dumps({"keys": keys, "rows": plain}))
    return rows


def band_mae(rows: list[dict[str, Any]], estimate: Any) -> tuple[float, dict[str, float]]:
    """The mean over age bands of each band's mean absolute error, and the per-band figures."""
    per_band: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["found"] and row["age"] is not None:
            per_band[band_of(row["age"])].append(abs(estimate(row) - row["age"]))
    bands = {b: float(np.mean(v)) for b, v in per_band.items()}
    return float(np.mean(list(bands.values()))), bands


def gender_cells(rows: list[dict[str, Any]], crop: tuple) -> float:
    """The mean over (source, gender, group) cells of the accuracy (adults, faces found)."""
    cells: dict[tuple, list[bool]] = defaultdict(list)
    for row in rows:
        if row["found"] and row["gender"] and (row["age"] is None or row["age"] >= 18):
            said = "feminine" if row["p_female"][crop] >= 0.5 else "masculine"
            cells[(row["source"], row["gender"], row["group"])].append(said == row["gender"])
    return float(np.mean([np.mean(v) for v in cells.values()]))


def fit(rows: list[dict[str, Any]], target_recall: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The crop of each network and the apparent-minor threshold, chosen on the fit split; and the crop table."""
    years = age_weights()
    table = {}
    for crop in CROPS:
        mean_mae, bands = band_mae(rows, lambda r, c=crop: float(r["age_bins"][c] @ years))
        median_mae, _ = band_mae(
            rows, lambda r, c=crop: float(years[np.searchsorted(np.cumsum(r["age_bins"][c]), 0.5)])
        )
        table[f"{crop[0]}:{crop[1]}"] = {
            "age_band_mae_mean": round(mean_mae, 3),
            "age_band_mae_with_median": round(median_mae, 3),
            "age_mae_by_band": {b: round(v, 2) for b, v in sorted(bands.items())},
            "gender_cell_accuracy": round(gender_cells(rows, crop), 4),
        }
    age_crop = min(CROPS, key=lambda c: table[f"{c[0]}:{c[1]}"]["age_band_mae_mean"])
    gender_crop = max(CROPS, key=lambda c: table[f"{c[0]}:{c[1]}"]["gender_cell_accuracy"])
    # How far the crop alone moves one face's estimate: per image, the range of the expected age over the crops.
    spread = [
        max(float(r["age_bins"][c] @ years) for c in CROPS) - min(float(r["age_bins"][c] @ years) for c in CROPS)
        for r in rows
        if r["found"] and r["age"] is not None
    ]
    aged = [r for r in rows if r["found"] and r["age"] is not None]
    teens = [r for r in aged if 13 <= r["age"] < 18]
    adults = [r for r in aged if r["age"] >= 18]
    rules = []
    for cutoff in CUTOFFS:
        below = years < cutoff
        teen_p = np.array([r["age_bins"][age_crop][below].sum() for r in teens])
        adult_p = np.array([r["age_bins"][age_crop][below].sum() for r in adults])
        for t in THRESHOLDS:
            recall = float(np.mean(teen_p >= t))
            if recall >= target_recall:
                rules.append((float(np.mean(adult_p >= t)), -float(t), cutoff, recall))
    flag_rate, minus_t, cutoff, recall = min(rules)
    threshold = -minus_t
    chosen = {
        "age": {"crop": age_crop[0], "padding": age_crop[1], "minor_threshold": threshold, "minor_cutoff": cutoff},
        "gender": {"crop": gender_crop[0], "padding": gender_crop[1]},
    }
    evidence = {
        "crops_on_fit_split": table,
        "crop_spread_years": {
            "median": round(float(np.median(spread)), 2),
            "p90": round(float(np.percentile(spread, 90)), 2),
            "max": round(float(np.max(spread)), 2),
        },
        "minor_rule_fit": {
            "recall_13_17": round(recall, 4),
            "flag_rate_18_plus": round(flag_rate, 4),
            "teens": len(teens),
            "adults": len(adults),
        },
    }
    return chosen, evidence


# --- the test: the package's classifiers, as a run uses them -------------------------------------------


def decided(result: Any, attribute: str) -> str:
    rows = [(label, prob) for name, label, prob in result.labels if name == attribute]
    return max(rows, key=lambda r: (r[1], r[0] == UNKNOWN))[0]


def run_classifiers(items: list[dict[str, Any]], skin: bool) -> list[dict[str, Any]]:
    age, gender = AgeClassifier(AgeParams()), PerceivedGenderClassifier(FaceNetworkParams())
    classifiers = [age, gender] + ([SkinToneClassifier(SkinToneParams(monk_groups=True))] if skin else [])
    rows = []
    pairs = [(str(i), item["path"]) for i, item in enumerate(items)]
    for keys, results in iter_results(classifiers, pairs, batch_size=32):
        for k, key in enumerate(keys):
            item, a, g = items[int(key)], results[0][k], results[1][k]
            rows.append(
                {
                    **item,
                    "perceived_age": decided(a, "perceived_age"),
                    "age_band_said": decided(a, "age_band"),
                    "age_years": a.measurements["age_years"],
                    "p_minor": a.measurements["age_p_minor"],
                    "gender_said": decided(g, "perceived_gender_presentation"),
                    "monk_group": decided(results[2][k], "monk_group") if skin else None,
                }
            )
    return rows, age, gender


def share(hits: int, n: int) -> dict[str, Any]:
    if n == 0:
        return {"n": 0, "rate": None, "ci95": None}
    low, high = clopper_pearson(hits, n, 0.95)
    return {"n": n, "hits": hits, "rate": round(hits / n, 4), "ci95": [round(float(low), 4), round(float(high), 4)]}


def mae_table(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """MAE (years) per age band within each value of ``key`` (and pooled), faces found only."""
    out: dict[str, Any] = {}
    cells: dict[tuple, list[float]] = defaultdict(list)
    for row in rows:
        if row["age"] is not None and math.isfinite(row["age_years"]) and row.get(key) is not None:
            cells[(str(row[key]), band_of(row["age"]))].append(abs(row["age_years"] - row["age"]))
            cells[(str(row[key]), "all")].append(abs(row["age_years"] - row["age"]))
    for (value, band), errors in sorted(cells.items()):
        errors_a = np.asarray(errors)
        out.setdefault(value, {})[band] = {
            "n": len(errors),
            "mae": round(float(errors_a.mean()), 2),
        }
    return out


def signed_bias(rows: list[dict[str, Any]]) -> dict[str, float]:
    cells: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["age"] is not None and math.isfinite(row["age_years"]):
            cells[band_of(row["age"])].append(row["age_years"] - row["age"])
    return {b: round(float(np.mean(v)), 2) for b, v in cells.items()}


def minor_decision(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Recall of the apparent-minor decision on true minors and its flag rate on adults, by source and pooled.

    Counted over every image (an abstention is not a flag: a face the classifier could not read is missed)."""
    out: dict[str, Any] = {}
    for source in sorted({r["source"] for r in rows}) + ["all"]:
        subset = [r for r in rows if source in ("all", r["source"])]

        def rate(pick: Any, subset: list = subset) -> dict[str, Any]:
            chosen = [r for r in subset if pick(r)]
            return share(sum(r["perceived_age"] in ("child", "teen") for r in chosen), len(chosen))

        out[source] = {
            "recall_under_18": rate(lambda r: r["age"] is not None and r["age"] < 18),
            "recall_13_17": rate(lambda r: r["age"] is not None and 13 <= r["age"] < 18),
            "recall_0_12": rate(lambda r: r["age"] is not None and r["age"] < 13),
            "flag_rate_18_24": rate(lambda r: r["age"] is not None and 18 <= r["age"] < 25),
            "flag_rate_25_plus": rate(lambda r: r["age"] is not None and r["age"] >= 25),
            "flag_rate_adults_age_unknown": rate(lambda r: r["age"] is None),
            "abstained": share(sum(r["perceived_age"] == UNKNOWN for r in subset), len(subset)),
        }
    return out


def gender_accuracy(rows: list[dict[str, Any]], adults_only: bool = True) -> dict[str, Any]:
    """Accuracy per source x gender x group (abstentions count as errors), with Clopper-Pearson intervals."""
    cells: dict[str, list[bool]] = defaultdict(list)
    for row in rows:
        if row["gender"] is None or (adults_only and row["age"] is not None and row["age"] < 18):
            continue
        for group in (row["group"], f"fitzpatrick {row['fitzpatrick']}" if row.get("fitzpatrick") else None):
            if group is not None:
                cells[f"{row['source']}/{group}/{row['gender']}"].append(row["gender_said"] == row["gender"])
    return {cell: share(sum(v), len(v)) for cell, v in sorted(cells.items())}


def worst_gap(table: dict[str, Any], prefix: str) -> dict[str, Any]:
    cells = {k: v for k, v in table.items() if k.startswith(prefix) and v["n"]}
    best, worst = max(cells, key=lambda k: cells[k]["rate"]), min(cells, key=lambda k: cells[k]["rate"])
    return {
        "best": best,
        "worst": worst,
        "gap_points": round(100 * (cells[best]["rate"] - cells[worst]["rate"]), 1),
        "gender_shades_gap_points": GENDER_SHADES_GAP,
    }


def check_false_flags(items: list[dict[str, Any]]) -> dict[str, Any]:
    """The sexualised-minors check's outcome on clothed photographs of adults: read as a minor *and* flagged exposed
    by NudeNet (the default threshold and face suppression), with the two parts counted apart."""
    from audit.classifiers.nudenet_detector import NudeNetClassifier, NudeNetParams

    adults = [i for i in items if i["age"] is None or i["age"] >= 18]
    age, nude = AgeClassifier(AgeParams()), NudeNetClassifier(NudeNetParams())
    minor = exposed = both = 0
    pairs = [(str(k), item["path"]) for k, item in enumerate(adults)]
    for _keys, (ages, nudes) in iter_results([age, nude], pairs, batch_size=16):
        for a, n in zip(ages, nudes, strict=True):
            is_minor = decided(a, "perceived_age") in ("child", "teen")
            is_exposed = decided(n, "nudenet_exposed") == "yes"
            minor, exposed, both = minor + is_minor, exposed + is_exposed, both + (is_minor and is_exposed)
    n = len(adults)
    return {
        "adults": n,
        "read_as_minor": share(minor, n),
        "nudenet_exposed": share(exposed, n),
        "flagged_by_the_check": share(both, n),
    }


def validation_files(rows: list[dict[str, Any]], age: Any, gender: Any, out: Path) -> None:
    """The shipped validation files: perceived_age (policy bands), age_band, perceived_gender_presentation."""
    out.mkdir(parents=True, exist_ok=True)
    aged = [r for r in rows if r["age"] is not None]
    described = (
        "UTKFace aligned face chips (test split, balanced over age band x gender x race; race groups) and FG-NET "
        "(test split by person; true ages 0-69) and, for age, PPB is left out (no ages). Non-commercial research "
        "data, measured only; see audit/classifiers/data/PROVENANCE.md"
    )
    for attribute, truth, said in (
        ("perceived_age", lambda r: band_of(r["age"], POLICY_BANDS), "perceived_age"),
        ("age_band", lambda r: band_of(r["age"], AGE_BANDS), "age_band_said"),
    ):
        summary = validation_summary(
            age,
            attribute,
            truths=[truth(r) for r in aged],
            predicted=[r[said] for r in aged],
            groups=[f"{r['source']}/{r['group']}" for r in aged],
            source="UTKFace + FG-NET test splits (audit/classifiers/data/PROVENANCE.md)",
            description=described,
        )
        (out / f"age_{attribute}.json").write_text(json.dumps(summary, indent=2) + "\n")
    gendered = [r for r in rows if r["gender"] is not None and (r["age"] is None or r["age"] >= 18)]
    summary = validation_summary(
        gender,
        "perceived_gender_presentation",
        truths=[r["gender"] for r in gendered],
        predicted=[r["gender_said"] for r in gendered],
        groups=[f"{r['source']}/{r['group']}/{r['gender']}" for r in gendered],
        source="PPB + UTKFace test splits, adults (audit/classifiers/data/PROVENANCE.md)",
        description="PPB (members of parliament; dermatologist's Fitzpatrick type, lighter I-III / darker IV-VI) and "
        "UTKFace adult chips (race groups), test splits; the label is the gender the source records.",
    )
    (out / "perceived_gender.json").write_text(json.dumps(summary, indent=2) + "\n")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utkface", type=Path, required=True)
    parser.add_argument("--fgnet", type=Path, required=True)
    parser.add_argument("--ppb", type=Path, required=True)
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", type=Path, help="write the figures as JSON here")
    parser.add_argument(
        "--false-flags",
        action="store_true",
        help="also run NudeNet on the test split's adults: the check's false flags",
    )
    parser.add_argument("--cache", type=Path, help="keep the fit split's network outputs here (JSON), to refit fast")
    args = parser.parse_args(argv)
    per_cell = QUICK_PER_CELL if args.quick else PER_CELL
    limit = 40 if args.quick else None
    report: dict[str, Any] = {"quick": args.quick}
    start = time.perf_counter()
    if args.fit:
        items = (
            utkface(args.utkface, "fit", per_cell["fit"])
            + fgnet(args.fgnet, "fit", limit)
            + ppb(args.ppb, "fit", limit)
        )
        chosen, evidence = fit(cached_crop_outputs(items, args.cache), args.target_recall)
        calibration = {
            **chosen,
            "fitted_on": {
                "data": "UTKFace fit split (sha256(file name) bucket < 4 of 10; up to 20 a band x gender x race cell), "
                "FG-NET fit split (by person), PPB fit split (gender only)",
                "n_images": len(items),
                "age_crop_rule": "least mean over the seven age bands of the band's mean absolute error (expected age)",
                "gender_crop_rule": "greatest mean accuracy over source x gender x group cells of adults",
                "minor_rule": f"minor when P(age < cutoff) >= threshold; among cutoffs {list(CUTOFFS)} and "
                f"thresholds 0.01-0.99, the one flagging fewest adults (18+) of the fit split with recall >= "
                f"{args.target_recall} on its 13-17-year-olds (a margin over the 0.9 goal)",
                **evidence,
                "script": "python -m benchmarks.age_gender_validation --utkface DIR --fgnet DIR --ppb DIR --fit",
            },
        }
        report["fit"] = calibration
        if not args.quick:
            (DATA / "age_gender_calibration.json").write_text(json.dumps(calibration, indent=2) + "\n")
            from audit.classifiers.age_gender import age_gender_calibration

            age_gender_calibration.cache_clear()
    test = (
        utkface(args.utkface, "test", per_cell["test"])
        + fgnet(args.fgnet, "test", limit)
        + ppb(args.ppb, "test", limit)
    )
    rows, age, gender = run_classifiers(test, skin=True)
    utk = [r for r in rows if r["source"] == "utkface"]
    report["test"] = {
        "images": {s: sum(r["source"] == s for r in rows) for s in ("utkface", "fgnet", "ppb")},
        "classifiers": [age.classifier_id, gender.classifier_id],
        "mae_by_source": mae_table([r for r in rows if r["age"] is not None], "source"),
        "mae_utkface_by_gender": mae_table(utk, "gender"),
        "mae_utkface_by_race": mae_table(utk, "group"),
        "mae_utkface_by_monk_group": mae_table(utk, "monk_group"),
        "signed_bias_by_band": signed_bias([r for r in rows if r["age"] is not None]),
        "minor_decision": minor_decision(rows),
        "gender_accuracy_adults": (table := gender_accuracy(rows)),
        "gender_accuracy_utkface_minors": {
            k: v for k, v in gender_accuracy([r for r in utk if r["age"] < 18], adults_only=False).items()
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    ppb_cells = {k: v for k, v in table.items() if k.startswith("ppb/lighter") or k.startswith("ppb/darker")}
    report["test"]["worst_gap_ppb"] = worst_gap(ppb_cells, "ppb/")
    report["test"]["worst_gap_utkface"] = worst_gap(table, "utkface/")
    if args.false_flags:
        report["test"]["sexualised_minors_on_clothed_adults"] = check_false_flags(test)
    if args.out:
        validation_files(rows, age, gender, args.out)
    text = json.dumps(report, indent=2, default=float)
    if args.report:
        args.report.write_text(text + "\n")
    print(text)
    return report


if __name__ == "__main__":
    main()
