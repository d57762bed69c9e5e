"""``diffaudit analyze``: statistics and findings from a run's scores."""

from __future__ import annotations

from pathlib import Path

from audit.commands.exit_codes import PASS
from audit.core.run_store import RunStore
from audit.findings.analysis import analyze_run, load_validation, write_analysis


def analyze_command(run_dir: Path, validation: list[Path] | None = None) -> tuple[list[str], int]:
    """Write tables/*.parquet and findings.json; prints their paths. Exit 0 whatever the findings.

    ``validation``: classifier validation summaries, added to (and replacing
    for the same classifier and attribute) those attached in the run's config;
    with them the shares are also corrected for classifier error
    (tables/corrected_prompt.parquet).
    """

    given = load_validation(list(validation or []))
    with RunStore.open(run_dir) as store:
        attached = attach_validation(store, list(validation or []))
        summaries = {**store.validation_summaries(), **given}
        paths = write_analysis(store, analyze_run(store, validation=summaries))
    lines = [f"attached: {path} ({classifier} / {attribute})" for path, classifier, attribute in attached]
    return [*lines, *(f"wrote: {p}" for p in paths)], PASS


def attach_validation(store: RunStore, paths: list[Path]) -> list[tuple[Path, str, str]]:
    """Record validation files given on the command line in the run's validation.json (replacing what was
    attached for the same classifier and attribute), so the report and the gate read them from the run alone.

    A file for a (classifier, attribute) the run's scores do not hold is left out and named in no line.
    """
    import json

    from audit.core.run_store import SCORES, VALIDATION

    if not paths:
        return []
    record = store.root / VALIDATION
    data = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {"attributes": [], "unmatched": []}
    entries = {(e["classifier"], e["attribute"]): e for e in data.get("attributes", [])}
    if store.has_table(SCORES):
        scored = store.read_table(SCORES, columns=["classifier", "attribute"]).drop_duplicates()
        for key in zip(scored["classifier"], scored["attribute"], strict=True):
            if key not in entries:
                entries[key] = {"classifier": key[0], "attribute": key[1], "validated": False, "source": None, "summary": None}
                data.setdefault("attributes", []).append(entries[key])
    done = []
    for path in paths:
        for (classifier, attribute), summary in load_validation([path]).items():
            entry = entries.get((classifier, attribute))
            if entry is None:
                continue
            entry.update(validated=True, source=str(path), summary=summary)
            done.append((path, classifier, attribute))
    if done:
        store.write_json(VALIDATION, data)
    return done
