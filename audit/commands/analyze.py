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
        summaries = {**store.validation_summaries(), **given}
        paths = write_analysis(store, analyze_run(store, validation=summaries))
    return [f"wrote: {p}" for p in paths], PASS
