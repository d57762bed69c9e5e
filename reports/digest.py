"""The digest: everything a report shows, as plain JSON-ready data, read from the run directory alone.

:func:`build_digest` is the one function from a run directory to what the
HTML report, ``summary.json`` (the digest itself, see
``reports/summary.schema.json`` and docs/report.md), ``summary.md`` and
``junit.xml`` show. It reads only the files earlier stages wrote — run.yaml,
probes.parquet, generations.jsonl, scoring.json, tables/*.parquet and
findings.json — and computes nothing statistical: every share, interval and
test comes from the analysis stage's tables.

Large runs stay small here: per prompt the digest lists at most
``thumbnails_per_prompt`` images (the ones the report shows), and counts the
rest.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from audit.core.records import stable_hash
from audit.core.run_store import (
    COMPARISON,
    FINDINGS,
    REBALANCED,
    SCORING_INFO,
    TABLES,
    VALIDATION,
    RunStore,
    UnreadableRunFile,
    read_run_json,
)

SCHEMA_VERSION = 2  # 2: each check's own ``sections`` replace ``amplification`` and ``paired``
# Images per prompt that the report shows as thumbnails (and the digest lists); the rest are counted.
THUMBNAILS_PER_PROMPT = 8
# Groupings with more groups than this are tabulated but not charted.
MAX_CHART_GROUPS = 200
_FAILURE_EXAMPLES = 20
# Failing groups listed in the verdict (the largest values first); the rest are counted.
_FAILING_LISTED = 200
# A policy's options where findings.json predates them: power 0.8, and an underpowered pass passes.
_POLICY_OPTIONS = {"power": 0.8, "underpowered": "pass"}


def build_digest(root: str | Path, *, thumbnails_per_prompt: int = THUMBNAILS_PER_PROMPT) -> dict[str, Any]:
    """A JSON-ready digest of one run: verdict, statistics, images shown, and what it takes to repeat it."""
    if thumbnails_per_prompt < 0:
        raise ValueError(f"thumbnails_per_prompt must be at least 0, got {thumbnails_per_prompt}")
    root = Path(root)
    store = RunStore.open(root, lock=False)
    info = store.run_info()
    items = store.probes()
    records = store.generations()
    tables = _tables(root)
    labels_by_record = _image_labels(tables.get("image_labels"))
    findings = _read_json(root, FINDINGS)
    scoring = _read_json(root, SCORING_INFO) or {"classifiers": {}}
    ok = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    by_item: dict[str, list[Any]] = {}
    for record in sorted(records, key=lambda r: (r.item_id, r.seed)):
        by_item.setdefault(record.item_id, []).append(record)
    generator = next(iter(ok or records), None)
    verdict = _verdict(findings)
    digest = {
        "schema_version": SCHEMA_VERSION,
        "name": info["config"]["name"],
        "created": info.get("created"),
        "config": info["config"],
        "config_hash": stable_hash(info["config"]),
        "seeds": info.get("seeds") or {},
        "versions": info.get("versions", {}),
        "host": info.get("host", {}),
        "generator": {
            "id": generator.generator if generator else None,
            "config_hash": generator.generator_config if generator else None,
            "meta": generator.meta if generator else {},
        },
        "classifiers": _classifiers(scoring),
        "counts": {
            "prompts": len(items),
            "images_expected": len(store.pairs(items)),
            "images_ok": len(ok),
            "images_failed": len(failed),
        },
        "failures": {
            "by_reason": dict(Counter(_reason(r.error) for r in failed).most_common()),
            "examples": [
                {"record_id": r.record_id, "item_id": r.item_id, "seed": r.seed, "error": r.error}
                for r in failed[:_FAILURE_EXAMPLES]
            ],
        },
        "screening": _screening_summary(items),
        "references": _reference_sources(items),
        "verdict": verdict,
        "findings": list(findings.get("findings", [])) if findings else [],
        "attributes": _attributes(tables, _validation_lines(root, info["config"]["name"]), store.out_of_domain()),
        "sections": _sections(findings, verdict),
        "diversity": _rows(tables.get("diversity_prompt")),
        "validation": _validation(root, info["config"]["name"]),
        "mitigation": _mitigation(info["config"].get("mitigation")),
        "comparison": _comparison(_read_json(root, COMPARISON)),
        "rebalanced": _read_json_list(root, REBALANCED),
        "design": _design(info["config"], findings),
        "sequential": _sequential(tables, findings),
        "thumbnails_per_prompt": thumbnails_per_prompt,
        "items": [
            {
                "item_id": item.item_id,
                "suite": item.suite,
                "prompt": item.prompt,
                "attributes": item.attributes,
                "screening": item.screening,
                "screening_category": item.screening_category,
                "n_images": sum(r.ok for r in by_item.get(item.item_id, [])),
                "n_failed": sum(not r.ok for r in by_item.get(item.item_id, [])),
                "images": [
                    {
                        "record_id": r.record_id,
                        "seed": r.seed,
                        "image_path": r.image_path,
                        "sha256": r.sha256,
                        "error": r.error,
                        "labels": labels_by_record.get(r.record_id, {}),
                    }
                    for r in by_item.get(item.item_id, [])[:thumbnails_per_prompt]
                ],
            }
            for item in items
        ],
    }
    return _json_ready(digest)


def _json_ready(value: Any) -> Any:
    """The digest as strict JSON: numpy scalars unwrapped, NaN and infinities as null, tuples as lists."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return _plain(value)


def _mitigation(block: dict[str, Any] | None) -> dict[str, Any] | None:
    """The run's mitigation block as its config states it (run.yaml)."""
    return {"block": block} if block else None


def _comparison(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The paired comparison with its baseline (``diffaudit compare`` wrote comparison.json into this run)."""
    if not data:
        return None
    changes = data.get("changes", [])
    directions = Counter(c.get("direction") for c in changes)
    return {
        "baseline": data.get("baseline"),
        "baseline_name": data.get("baseline_name"),
        "policy": data.get("policy"),
        "alpha": data.get("alpha"),
        "pairs": data.get("pairs"),
        "method": data.get("method"),
        "described": data.get("mitigation_described"),
        "counts": {d: directions.get(d, 0) for d in ("improved", "worse", "no significant change", "not judged")},
        "changes": changes,
        "costs": data.get("costs", {}),
    }


def _read_json_list(root: Path, name: str) -> list[Any]:
    data = read_run_json(root, name)
    if data is not None and not isinstance(data, list):
        raise UnreadableRunFile(root, name, f"expected a JSON list, got {type(data).__name__}")
    return data or []


def _reason(error: str | None) -> str:
    """A failure's kind: the exception name or the first words of its message."""
    text = (error or "unknown").split(":")[0].strip()
    return text[:80] or "unknown"


def _read_json(root: Path, name: str) -> dict[str, Any] | None:
    data = read_run_json(root, name)
    if data is not None and not isinstance(data, dict):
        raise UnreadableRunFile(root, name, f"expected a JSON object, got {type(data).__name__}")
    return data


def _tables(root: Path) -> dict[str, Any]:
    """Every table the analysis wrote, by name (``tables/<name>.parquet``); pandas is only needed here."""
    folder = root / TABLES
    if not folder.is_dir():
        return {}
    import pandas as pd

    tables = {}
    for path in sorted(folder.glob("*.parquet")):
        try:
            tables[path.stem] = pd.read_parquet(path)
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise UnreadableRunFile(root, f"{TABLES}/{path.name}", f"not a parquet table: {exc}") from None
    return tables


def _plain(value: Any) -> Any:
    """A JSON-ready scalar: numpy types unwrapped, NaN and infinity as None."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rows(frame: Any) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _image_labels(frame: Any) -> dict[str, dict[str, list[Any]]]:
    """record id → {"classifier / attribute": [label, prob]}."""
    out: dict[str, dict[str, list[Any]]] = {}
    if frame is None or frame.empty:
        return out
    for row in frame.itertuples(index=False):
        out.setdefault(row.record_id, {})[f"{row.classifier} / {row.attribute}"] = [row.label, _plain(row.prob)]
    return out


def _classifiers(scoring: dict[str, Any]) -> list[dict[str, Any]]:
    """What scored the images: id, type, parameters, libraries, weights fingerprint, label set."""
    out = []
    for classifier_id, entry in sorted(scoring.get("classifiers", {}).items()):
        out.append(
            {
                "id": classifier_id,
                "type": entry.get("type"),
                "params": entry.get("params", {}),
                "libraries": entry.get("libraries", {}),
                "weights_fingerprint": entry.get("weights_fingerprint"),
                "label_set": entry.get("label_set"),
            }
        )
    return out


def finding_status(finding: dict[str, Any]) -> str:
    """pass, fail, warn or not_judged; a finding written before statuses existed is read by its fields."""
    status = finding.get("status")
    if status in ("pass", "fail", "not_judged"):
        if status == "fail" and finding.get("severity") == "warning":
            return "warn"
        return status
    if finding.get("severity") == "info" or finding.get("value") is None:
        return "not_judged"
    if finding.get("passed"):
        return "pass"
    return "fail" if finding.get("severity") == "error" else "warn"


def _reason_text(finding: dict[str, Any]) -> str:
    """Why a group was not judged, without its group's name (so reasons count across groups)."""
    text = finding.get("summary", "")
    for marker in ("not judged: ", "not applicable: ", "skipped: "):
        if marker in text:
            return marker.rstrip(": ") + ": " + text.split(marker, 1)[1]
    return text


def _check_status(entry: dict[str, Any], statuses: Counter, first: dict[str, Any]) -> str:
    """A check's status: as the analysis decided it (findings.json's list of checks), else from its groups.

    A failing check of severity ``warning`` reads ``warn``; one that could not apply to the run at all,
    ``not_applicable``.
    """
    if entry.get("applicable") is False:
        return "not_applicable"
    status = entry.get("status")
    if status is None:
        if statuses["fail"] or statuses["warn"]:
            status = "fail"
        else:
            status = "pass" if statuses["pass"] else "not_judged"
    if status == "fail" and (entry.get("severity") or first.get("severity")) == "warning":
        return "warn"
    return status


def _verdict(findings: dict[str, Any] | None) -> dict[str, Any]:
    """The policy's verdict and one row per check, from findings.json (``not_analysed`` without it)."""
    if findings is None:
        return {
            "status": "not_analysed",
            "policy": None,
            "policy_source": None,
            "counts": {},
            "counts_by_status": {"pass": 0, "fail": 0, "warn": 0, "not_judged": 0},
            "checks": [],
            "failing": [],
            "policy_options": dict(_POLICY_OPTIONS),
            "warnings": [],
        }
    rows = list(findings.get("findings", []))
    described = {entry.get("id"): entry for entry in findings.get("checks", []) if isinstance(entry, dict)}
    order = list(dict.fromkeys([*described, *(f["check"] for f in rows)]))
    checks = []
    for check_id in order:
        group = [f for f in rows if f["check"] == check_id]
        statuses = Counter(finding_status(f) for f in group)
        entry = described.get(check_id, {})
        judged = [f for f in group if finding_status(f) in ("pass", "fail", "warn") and f.get("value") is not None]
        worst = max(judged, key=lambda f: (finding_status(f) in ("fail", "warn"), f["value"])) if judged else None
        first = group[0] if group else {}
        status = _check_status(entry, statuses, first)
        checks.append(
            {
                "id": check_id,
                "check": entry.get("check"),
                "attribute": entry.get("attribute", first.get("scope", {}).get("attribute")),
                "status": status,
                "decide": entry.get("decide", first.get("decide")),
                "hypothesis": entry.get("hypothesis"),
                "rule": entry.get("rule") or first.get("rule") or entry.get("hypothesis"),
                "alpha": entry.get("alpha"),
                "limit": entry.get("limit", first.get("threshold")),
                "groups": {
                    "passed": statuses["pass"],
                    "failed": statuses["fail"] + statuses["warn"],
                    "not_judged": statuses["not_judged"],
                },
                "worst": None
                if worst is None
                else {"value": worst["value"], "ci": worst.get("ci"), "scope": worst.get("scope", {})},
                "not_judged_reasons": dict(
                    Counter(_reason_text(f) for f in group if finding_status(f) == "not_judged").most_common(5)
                ),
                "underpowered": bool(entry.get("underpowered")) and status == "pass",
                "detectable": entry.get("detectable"),
            }
        )
    # A warning never stands among the failing groups: it does not fail the run.
    failing = [f for f in rows if finding_status(f) == "fail"]
    failing.sort(key=lambda f: -(f.get("value") or 0.0))
    warnings = [f for f in rows if finding_status(f) == "warn"]
    warnings.sort(key=lambda f: -(f.get("value") or 0.0))
    status = findings.get("verdict")
    if status not in ("pass", "fail", "not_judged"):
        if not checks or all(c["status"] in ("not_judged", "not_applicable") for c in checks):
            status = "not_judged"
        else:
            status = "fail" if any(c["status"] == "fail" for c in checks) else "pass"
    return {
        "status": status,
        "policy": findings.get("policy"),
        "policy_source": findings.get("policy_source"),
        "counts": findings.get("counts", {}),
        "counts_by_status": {
            name: sum(finding_status(f) in kinds for f in rows)
            for name, kinds in (
                ("pass", ("pass",)),
                ("fail", ("fail",)),
                ("warn", ("warn",)),
                ("not_judged", ("not_judged",)),
            )
        },
        "checks": checks,
        "failing": failing[:_FAILING_LISTED],
        "policy_options": {**_POLICY_OPTIONS, **(findings.get("policy_options") or {})},
        "warnings": warnings[:_FAILING_LISTED],
    }


def _attributes(
    tables: dict[str, Any],
    validated_on: dict[tuple[str, str], str] | None = None,
    out_of_domain: dict[tuple[str, str], str] | None = None,
) -> list[dict[str, Any]]:
    """Per (classifier, attribute): its labels, abstention, the shares per group of each grouping, where a
    validation corrected them the corrected shares per prompt beside the raw ones, and why it is out of its
    classifier's domain (recorded, not judged) where it is."""
    corrected = _corrected(tables.get("corrected_prompt"), validated_on or {})
    distributions = {
        name.removeprefix("distributions_"): frame
        for name, frame in tables.items()
        if name.startswith("distributions_") and not frame.empty
    }
    deviation = tables.get("deviation_prompt")
    out = []
    keys = set()
    for frame in distributions.values():
        keys.update(frame.groupby(["classifier", "attribute"]).groups)
    for classifier, attribute in sorted(keys):
        groupings = []
        labels: list[str] = []
        abstention = None
        for by, frame in sorted(distributions.items(), key=lambda kv: (kv[0] != "prompt", kv[0])):
            sub = frame[(frame["classifier"] == classifier) & (frame["attribute"] == attribute)]
            if sub.empty:
                continue
            columns = ["suite", "prompt"] if by == "prompt" else [by]
            labels = list(dict.fromkeys(sub["label"]))
            rows = []
            for key, group in sub.groupby(columns, sort=True, dropna=False):
                key = key if isinstance(key, tuple) else (key,)
                first = group.iloc[0]
                shares = {
                    row.label: [_plain(row.share), _plain(row.ci_low), _plain(row.ci_high)]
                    for row in group.itertuples(index=False)
                }
                rows.append(
                    {
                        "group": " · ".join(str(k) for k in key[-1:]) if by == "prompt" else str(key[0]),
                        "suite": str(key[0]) if by == "prompt" else None,
                        "n": int(first["n"]),
                        "n_unknown": int(first["n_unknown"]),
                        "shares": shares,
                        "distance_from_parity": _distance_from_parity([s[0] for s in shares.values()]),
                    }
                )
            if by == "prompt" and deviation is not None and not deviation.empty:
                _attach_deviation(rows, deviation, classifier, attribute)
            rows.sort(key=lambda r: -(r["distance_from_parity"] or 0.0))
            groupings.append({"by": by, "chart": 1 <= len(rows) <= MAX_CHART_GROUPS, "rows": rows})
            if by == "prompt":
                n = int(sub.drop_duplicates(columns)["n"].sum())
                unknown = int(sub.drop_duplicates(columns)["n_unknown"].sum())
                abstention = {
                    "n": n + unknown,
                    "unknown": unknown,
                    "rate": unknown / (n + unknown) if n + unknown else None,
                }
        out.append(
            {
                "classifier": classifier,
                "attribute": attribute,
                "labels": labels,
                "abstention": abstention,
                "groupings": groupings,
                "corrected": corrected.get((classifier, attribute)),
                "out_of_domain": (out_of_domain or {}).get((classifier, attribute)),
            }
        )
    return out


def _corrected(frame: Any, validated_on: dict[tuple[str, str], str]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (classifier, attribute): each prompt's raw and corrected shares with intervals (corrected_prompt),
    the matrix's condition number, why nothing was corrected where it was refused, and what it was validated on."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if frame is None or frame.empty:
        return out
    for (classifier, attribute), sub in frame.groupby(["classifier", "attribute"], sort=True):
        rows = []
        for (suite, prompt), group in sub.groupby(["suite", "prompt"], sort=True, dropna=False):
            first = group.iloc[0]
            rows.append(
                {
                    "group": str(prompt),
                    "suite": str(suite),
                    "n": int(first["n"]),
                    "n_unknown": int(first["n_unknown"]),
                    "raw": {str(r.label): _plain(r.observed_share) for r in group.itertuples(index=False)},
                    "corrected": {
                        str(r.label): [_plain(r.corrected_share), _plain(r.ci_low), _plain(r.ci_high)]
                        for r in group.itertuples(index=False)
                    },
                }
            )
        reasons = [r for r in sub.get("reason", []) if isinstance(r, str) and r]
        conditions = [c for c in sub.get("condition", []) if c is not None and c == c]
        out[(classifier, attribute)] = {
            "labels": list(dict.fromkeys(str(x) for x in sub["label"])),
            "rows": rows,
            "condition": _plain(conditions[0]) if conditions else None,
            "reason": reasons[0] if reasons else None,
            "validated_on": validated_on.get((classifier, attribute)),
        }
    return out


def _distance_from_parity(shares: list[Any]) -> float | None:
    """Total variation distance of the shares from equal shares: how far the bars lean, for sorting."""
    values = [s for s in shares if s is not None]
    if not values or len(values) != len(shares):
        return None
    k = len(values)
    return 0.5 * sum(abs(v - 1 / k) for v in values)


def _attach_deviation(rows: list[dict[str, Any]], deviation: Any, classifier: str, attribute: str) -> None:
    sub = deviation[(deviation["classifier"] == classifier) & (deviation["attribute"] == attribute)]
    found = {(str(r["suite"]), str(r["prompt"])): r for r in sub.to_dict("records") if "suite" in r and "prompt" in r}
    for row in rows:
        match = found.get((row["suite"], row["group"]))
        if match is not None:
            row["deviation"] = {k: _plain(match.get(k)) for k in ("tv", "tv_low", "tv_high", "p_value", "p_adjusted")}


def _design(config: dict[str, Any], findings: dict[str, Any] | None) -> dict[str, Any]:
    """The run's sampling design (fixed or sequential) and, for a sequential run, what it spent."""
    design = {"mode": "fixed", **(config.get("sampling") or {})}
    if findings and isinstance(findings.get("design"), dict):
        design.update(findings["design"])
    return design


def _sequential(tables: dict[str, Any], findings: dict[str, Any] | None) -> dict[str, Any] | None:
    """A sequential run's groups: images used, why each stopped, its confidence sequence round by round."""
    if not findings or (findings.get("design") or {}).get("mode") != "sequential":
        return None
    groups = []
    for check in findings.get("checks", []):
        table = _check_table(tables, check.get("id", ""))
        if table is None or "stop" not in table.columns:
            continue
        keys = [c for c in table.columns if c not in _SEQUENTIAL_COLUMNS]
        for row in _rows(table):
            groups.append(
                {
                    "check": check["id"],
                    "group": ", ".join(f"{k}={row[k]}" for k in keys) or "all images",
                    "classifier": row.get("classifier"),
                    "images": row.get("images_used"),
                    "rounds": row.get("rounds_used"),
                    "stop": row.get("stop"),
                    "stopped": row.get("stopped") or row.get("stop"),
                    "value": row.get("value"),
                    "ci": [row.get("ci_low"), row.get("ci_high")],
                    "limit": check.get("limit"),
                    "status": row.get("status"),
                }
            )
    return {"groups": groups, "traces": _rows(tables.get("sequential_traces"))}


_SEQUENTIAL_COLUMNS = {
    "classifier",
    "n_judged",
    "n_abstained",
    "images_used",
    "rounds_used",
    "stop",
    "stopped",
    "value",
    "ci_low",
    "ci_high",
    "log_e_beyond",
    "log_e_within",
    "p_value",
    "p_adjusted",
    "bound",
    "status",
    "reason",
}


def _check_table(tables: dict[str, Any], check_id: str) -> Any:
    return tables.get("check_" + re.sub(r"[^A-Za-z0-9_]+", "_", check_id))


def _sections(findings: dict[str, Any] | None, verdict: dict[str, Any]) -> list[dict[str, Any]]:
    """Each check's own section of the report, as its check type built it (findings.json's ``checks[i]["report"]``):
    title, text, table, figure and JUnit lines, with the check's id, type and status. A findings.json written
    before checks had sections gives none."""
    if not findings:
        return []
    statuses = {c["id"]: c["status"] for c in verdict["checks"]}
    out = []
    for entry in findings.get("checks", []):
        report = entry.get("report") if isinstance(entry, dict) else None
        if not isinstance(report, dict):
            continue
        out.append(
            {
                "id": entry.get("id"),
                "check": entry.get("check"),
                "status": statuses.get(entry.get("id"), entry.get("status") or "not_judged"),
                "title": str(report.get("title") or entry.get("id")),
                "text": str(report.get("text") or ""),
                "columns": [str(c) for c in report.get("columns") or []],
                "rows": [list(row) for row in report.get("rows") or []],
                "figure": report.get("figure") or None,
                "no_figure": str(report.get("no_figure") or ""),
                "junit": [str(line) for line in report.get("junit") or []],
                "ranked": report.get("ranked") or None,
            }
        )
    return out


def _screening_summary(items: list[Any]) -> dict[str, Any]:
    """Prompts blocked (not generated) and flagged (generated anyway); per suite, also by category."""
    by_suite: dict[str, dict[str, Any]] = {}
    for item in items:
        if item.screening is None:
            continue
        row = by_suite.setdefault(item.suite, {"screened": 0, "blocked": 0, "flagged": 0, "by_category": {}})
        row["screened"] += 1
        if item.screening in ("blocked", "flagged", "not_screened"):
            row[item.screening] = row.get(item.screening, 0) + 1  # "not_screened" only where there are any
            for category in (item.screening_category or "").split(","):
                if category:
                    row["by_category"][category] = row["by_category"].get(category, 0) + 1
    return {
        "blocked": sum(item.screening == "blocked" for item in items),
        "flagged": sum(item.screening == "flagged" for item in items),
        # Generated though the screen could not read them (a language it has no word lists for).
        "not_screened": sum(item.screening == "not_screened" for item in items),
        "by_suite": by_suite,
    }


def _reference_sources(items: list[Any]) -> list[dict[str, Any]]:
    """Where the suites' reference figures come from (source, table, year, population), once each."""
    seen: dict[str, dict[str, Any]] = {}
    for item in items:
        ref = item.reference or {}
        described = {k: ref[k] for k in ("source", "table", "year", "population") if k in ref}
        if described:
            seen.setdefault(json.dumps(described, sort_keys=True), {"suite": item.suite, **described})
    return list(seen.values())


def _validation(root: Path, run_name: str | None = None) -> list[dict[str, Any]] | None:
    """Each scored attribute's classifier validation (accuracy and abstention, overall and per true group, the
    confusion matrix, who labelled the images and how far they agreed) or ``validated: False``; None when the
    run has no validation record (not scored by this version)."""
    data = _read_json(root, VALIDATION)
    if data is None:
        return None
    out = []
    for entry in data.get("attributes", []):
        summary = entry.get("summary") or {}
        row = {k: entry.get(k) for k in ("classifier", "attribute", "validated", "source", "domain")}
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
                confusion={
                    "labels": summary.get("labels"),
                    "predicted_labels": summary.get("predicted_labels"),
                    "matrix": summary.get("confusion_matrix"),
                },
                validated_on=validated_on(summary, run_name),
            )
        out.append(row)
    return out


def _validation_lines(root: Path, run_name: str | None) -> dict[tuple[str, str], str]:
    return {
        (v["classifier"], v["attribute"]): v["validated_on"]
        for v in _validation(root, run_name) or []
        if v.get("validated")
    }


def validated_on(summary: dict[str, Any], run_name: str | None) -> str:
    """What a validation rests on, in words: "validated on 59 labels of this run (2 annotators, Cohen's kappa
    0.81)", or on the images its data describe."""
    data = summary.get("data") or {}
    n = summary.get("n_images")
    people = data.get("labelled_by")
    if people:
        runs = people.get("runs") or []
        where = "this run" if runs == [run_name] else ("run " + ", ".join(runs) if runs else "labelled images")
        agreement = people.get("agreement") or {}
        annotators = len(agreement.get("annotators") or [])
        kappa = agreement.get("kappa")
        said = f"{annotators} annotator{'s' if annotators != 1 else ''}"
        if kappa is not None:
            said += f", {agreement.get('method')} {kappa:.2f}"
        aside = sum((people.get("set_aside") or {}).values())
        if aside:
            said += f"; {aside} set aside"
        return f"validated on {n} labels of {where} ({said})"
    described = data.get("description") or data.get("source") or summary.get("source") or "labelled images"
    return f"validated on {n} labelled images: {described}"
