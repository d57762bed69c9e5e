"""The stages of a run, each reading what the stage before it wrote to the run directory.

prepare → generate → score → analyze → report. This module is the one place
that ties probes, generators, classifiers, statistics and reports together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from audit.config import RunConfig, config_from_dict
from audit.errors import ConfigError, RunStoreError, StageNotAvailable
from audit.records import ProbeItem
from audit.run_store import RUN_INFO, RunStore

log = logging.getLogger(__name__)

# A progress factory: given a description and a total, a context manager
# yielding an ``advance()`` callable. The CLI passes a rich bar; tests pass none.
ProgressFactory = Callable[[str, int], Any]


def run_dir_for(config: RunConfig, out: str | Path | None) -> Path:
    return Path(out) if out is not None else Path(config.output) / config.name


def expand_probes(config: RunConfig) -> tuple[list[ProbeItem], dict[str, list[int]]]:
    """Every ProbeItem the config asks for, and the seeds of each suite."""
    from probes import load_suite, resolve_seeds

    items: list[ProbeItem] = []
    seeds: dict[str, list[int]] = {}
    for i, spec in enumerate(config.probes):
        suite = load_suite(spec.suite)
        if suite.name in seeds:
            raise ConfigError(f"{config.source}: probes[{i}].suite: suite {suite.name!r} is listed twice")
        try:
            seeds[suite.name] = resolve_seeds(spec.seeds) if spec.seeds is not None else suite.default_seeds()
        except ValueError as exc:
            raise ConfigError(f"{config.source}: probes[{i}].seeds: {exc}") from None
        items.extend(suite.expand())
    return items, seeds


def check_stages_available(config: RunConfig) -> None:
    """Fail before any image is made if the config needs a stage that is not built yet."""
    if config.classifiers:
        kinds = ", ".join(c.type for c in config.classifiers)
        raise StageNotAvailable(
            f"{config.source}: classifiers ({kinds}) cannot run yet: the scoring stage "
            "is not available in this version; remove them to generate and report only"
        )


def prepare(config: RunConfig, out: str | Path | None = None, *, resume: bool = False) -> RunStore:
    """Create (or reopen with ``resume``) the run directory, with run.yaml and probes.parquet."""
    items, seeds = expand_probes(config)
    store = RunStore.create(run_dir_for(config, out), config=config.as_dict(), seeds=seeds, resume=resume)
    if not (store.root / "probes.parquet").exists():
        store.write_probes(items)
    elif [p.item_id for p in store.probes()] != [p.item_id for p in items]:
        store.close()
        raise RunStoreError(
            f"{store.root}: the suites now expand to different prompts than when this run "
            "started; start a new run with --out"
        )
    return store


def load_run_config(store: RunStore) -> RunConfig:
    return config_from_dict(store.config, source=str(store.root / RUN_INFO))


def generate(store: RunStore, *, progress: ProgressFactory | None = None) -> dict[str, int]:
    """Make every image the run still lacks; returns counts of new, failed and total images."""
    from generators import generator_class

    config = load_run_config(store)
    generator = generator_class(config.generator.type)(config.generator.params)
    items = store.probes()
    seeds = store.seeds
    by_suite: dict[str, list[ProbeItem]] = {}
    for item in items:
        by_suite.setdefault(item.suite, []).append(item)
    todo = sum(len(generator.pending(group, seeds[suite], store)) for suite, group in by_suite.items())
    total = sum(len(group) * len(seeds[suite]) for suite, group in by_suite.items())
    log.info("%d of %d images to make with %s", todo, total, generator.generator_id)
    made = failed = 0
    bar = progress("generating", todo) if (progress and todo) else nullcontext(lambda: None)
    with bar as advance:
        for suite, group in by_suite.items():
            for record in generator.generate(group, seeds[suite], store, on_record=lambda r: advance()):
                made += record.ok
                failed += not record.ok
    if failed:
        log.warning("%d image(s) failed; rerun with --resume to retry them", failed)
    return {"made": made, "failed": failed, "total": total}


def score(store: RunStore) -> None:
    config = load_run_config(store)
    if not config.classifiers:
        log.info("no classifiers configured: scoring skipped")
        return
    check_stages_available(config)


def analyze(store: RunStore) -> list[Path]:
    """Write tables/*.parquet and findings.json under the run's policy; returns the paths (none without scores)."""
    if not (store.root / "scores.parquet").exists():
        log.info("no scores in this run: statistics and findings skipped")
        return []
    from audit.findings import analyze_run, write_analysis

    return write_analysis(store, analyze_run(store))


def report(store: RunStore) -> Path:
    """Write report.html and summary.json from the run directory alone; returns the HTML path."""
    from reports import write_report

    return write_report(store)
