"""The stages of a run, each reading what the stage before it wrote to the run directory.

prepare → generate → score → analyze → report. This module is the one place
that ties probes, generators, classifiers, statistics and reports together;
generation and scoring run on an executor (:mod:`audit.executors`: this
process, or Ray workers).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from audit.config import RunConfig, config_from_dict
from audit.core.errors import ConfigError, DiffauditError, RunStoreError
from audit.core.records import ProbeItem
from audit.core.run_store import (
    FINDINGS,
    PROBES,
    RUN_INFO,
    SCORES,
    SEQUENTIAL,
    TABLES,
    VALIDATION,
    RunStore,
    UnreadableRunFile,
    seeds_for,
)
from audit.executors import Executor, LocalExecutor

log = logging.getLogger(__name__)

# A progress factory: given a description and a total, a context manager
# yielding an ``advance()`` callable. The CLI passes a rich bar; tests pass none.
ProgressFactory = Callable[[str, int], Any]


def run_dir_for(config: RunConfig, out: str | Path | None) -> Path:
    return Path(out) if out is not None else Path(config.output) / config.name


def expand_probes(config: RunConfig) -> tuple[list[ProbeItem], dict[str, list[int]]]:
    """Every ProbeItem the config asks for, screened, and the seeds of each suite.

    Each prompt goes through the input screen: in a suite screened with
    ``block`` a flagged prompt is recorded as ``blocked`` and never generated;
    with ``record`` (I2P) it is recorded as ``flagged`` and generated. A prompt
    the screen cannot read (a language it has no lists for) is blocked, or, with
    ``unscreened: report`` (the default of ``record`` suites), generated and
    recorded as ``not_screened``. Items
    with their own seeds (I2P's published ones) keep them unless the config
    gives ``seeds:`` for the suite.
    """
    import dataclasses

    from probes import Screener, load_suite, resolve_seeds, screen_items

    items: list[ProbeItem] = []
    seeds: dict[str, list[int]] = {}
    screeners: dict[tuple[str, ...] | None, Screener] = {}
    for i, spec in enumerate(config.probes):
        suite = load_suite(spec.suite)
        if suite.name in seeds:
            raise ConfigError(f"{config.source}: probes[{i}].suite: suite {suite.name!r} is listed twice")
        try:
            seeds[suite.name] = resolve_seeds(spec.seeds) if spec.seeds is not None else suite.default_seeds()
        except ValueError as exc:
            raise ConfigError(f"{config.source}: probes[{i}].seeds: {exc}") from None
        expanded = suite.expand()
        if spec.seeds is not None:
            expanded = [dataclasses.replace(item, seeds=None) for item in expanded]
        if spec.seed_blocks != "shared":
            expanded = seed_blocks(expanded, seeds[suite.name], spec.seed_blocks)
        screening = spec.screening or suite.screening  # the run's config may override the suite's
        key = None if screening.categories is None else tuple(screening.categories)
        if key not in screeners:
            try:
                screeners[key] = Screener(screening.categories)
            except ValueError as exc:
                where = f"{config.source}: probes[{i}]" if spec.screening else f"suite {suite.name!r}"
                raise ConfigError(f"{where}: screening.categories: {exc}") from None
        items.extend(screen_items(expanded, screening.mode, screeners[key], screening.unscreened_policy))
    return items, seeds


def seed_blocks(items: list[ProbeItem], seeds: list[int], blocks: str) -> list[ProbeItem]:
    """Give each template (``per_template``) or each prompt / counterfactual pair (``per_prompt``) its own block
    of seeds: the suite's seeds shifted by block index x (largest seed + 1). Items with their own seeds keep them."""
    import dataclasses

    size = max(seeds) + 1
    index: dict[object, int] = {}
    out = []
    for item in items:
        if item.seeds is not None or not seeds:
            out.append(item)
            continue
        key = item.template if blocks == "per_template" else (item.pair_id or item.item_id)
        block = index.setdefault(key, len(index))
        out.append(dataclasses.replace(item, seeds=tuple(s + block * size for s in seeds)))
    return out


def check_stages_available(config: RunConfig) -> None:
    """Fail before any image is made if the config's classifiers cannot run.

    Building a classifier reads its label set but loads no model, so a bad
    type, parameter or label-set file is a ConfigError naming the file and
    key; weights that are neither cached nor downloadable are a
    ModelNotFoundError saying what to download.
    """
    from audit.classifiers import build_classifiers

    for classifier in build_classifiers(config.classifiers, device="cpu", source=config.source):
        classifier.check_available()


def from_hub(config: RunConfig) -> bool:
    """Whether any stage of the run may fetch a model from the hub (no model is loaded to say so)."""
    from audit.classifiers import build_classifiers

    if generator_for(config).from_hub():
        return True
    return any(c.from_hub() for c in build_classifiers(config.classifiers, device="cpu", source=config.source))


def prepare(config: RunConfig, out: str | Path | None = None, *, resume: bool = False) -> RunStore:
    """Create (or reopen with ``resume``) the run directory, with run.yaml and probes.parquet."""
    items, seeds = expand_probes(config)
    store = RunStore.create(run_dir_for(config, out), config=config.as_dict(), seeds=seeds, resume=resume)
    if not (store.root / PROBES).exists():
        store.write_probes(items)
    elif [p.item_id for p in store.probes()] != [p.item_id for p in items]:
        store.close()
        raise RunStoreError(
            f"{store.root}: the suites now expand to different prompts than when this run "
            "started; start a new run with --out"
        )
    return store


@contextmanager
def discarded_if_it_fails_unstarted(store: RunStore) -> Iterator[RunStore]:
    """On an error before the run's first image, remove what the run wrote, so that a rerun is not blocked."""
    try:
        yield store
    except BaseException:
        if store.discard_if_unstarted():
            log.info("%s: removed: the run stopped before its first image", store.root)
        raise


def load_run_config(store: RunStore) -> RunConfig:
    return config_from_dict(store.config, source=str(store.root / RUN_INFO))


def sample(
    store: RunStore, *, executor: Executor | None = None, progress: ProgressFactory | None = None
) -> dict[str, int]:
    """Generate and score the run's images under its sampling design; returns image counts.

    Fixed design: every image, then every score. Sequential design
    (:mod:`audit.findings.sequential`): round r makes seeds r*R .. (r+1)*R - 1
    of each prompt still sampling, scores them, and replays the stop rule on
    the run's labels to decide which prompts go on. The rounds are replayed
    from the images alone, so a resumed run passes through the rounds already
    made (making nothing) and reaches the same decisions; sequential.json
    records the progress after each round.
    """
    config = load_run_config(store)
    design = config.sampling
    if not design.sequential:
        counts = generate(store, executor=executor, progress=progress)
        score(store, executor=executor, progress=progress)
        return counts
    from audit.findings.analysis import sequential_run_state

    executor = executor or LocalExecutor()  # one for all rounds: its classifiers stay loaded
    generator = generator_for(config)  # loaded at the first round's images, kept for the rest
    items = [item for item in store.probes() if item.screening != "blocked"]
    seeds_of = {item.item_id: design.budget(seeds_for(item, store.seeds)) for item in items}
    rounds = design.rounds(max((len(s) for s in seeds_of.values()), default=0))
    made = failed = 0
    running = set(seeds_of)
    for r in range(rounds):
        if r:
            running = sequential_run_state(store, rounds_done=r).running_items
        todo = [
            (item, seed)
            for item in items
            if item.item_id in running
            for seed in seeds_of[item.item_id][r * design.round : (r + 1) * design.round]
        ]
        if not todo:
            break
        log.info("round %d of %d: %d prompt(s) still sampling, %d image(s)", r + 1, rounds, len(running), len(todo))
        counts = generate(store, executor=executor, progress=progress, pairs=todo, generator=generator)
        made, failed = made + counts["made"], failed + counts["failed"]
        score(store, executor=executor, progress=progress)
        progress_record = {"design": design.as_dict(), "rounds": rounds, "rounds_done": r + 1, "running": len(running)}
        store.write_json(SEQUENTIAL, progress_record)
    budget = sum(len(s) for s in seeds_of.values())
    return {"made": made, "failed": failed, "total": len(store.generations()), "budget": budget}


def generate(
    store: RunStore,
    *,
    executor: Executor | None = None,
    progress: ProgressFactory | None = None,
    pairs: list[tuple[ProbeItem, int]] | None = None,
    generator: Any = None,
) -> dict[str, int]:
    """Make every image the run still lacks (of ``pairs``, when given); returns counts of new, failed and total images.

    The run is read once: which (item, seed) pairs are finished is decided
    here, and the executor (local unless given) makes only the rest, with
    ``generator`` (the config's, made here unless given).
    """
    config = load_run_config(store)
    generator = generator or generator_for(config)
    # A prompt the input screen blocked is never generated.
    everything = store.probes()
    items = [item for item in everything if item.screening != "blocked"]
    blocked = len(everything) - len(items)
    if blocked:
        log.info("%d prompt(s) blocked by the input screen are not generated", blocked)
    if pairs is None:
        pairs = store.pairs(items)
    else:
        pairs = [(item, seed) for item, seed in pairs if item.screening != "blocked"]
    todo = generator.pending_pairs(pairs, store)
    if config.mitigation is not None:
        log.info("mitigation: %s", config.mitigation.describe())
        todo = config.mitigation.apply_pairs(todo)
    log.info("%d of %d images to make with %s", len(todo), len(pairs), generator.generator_id)
    made = failed = 0
    bar = progress("generating", len(todo)) if (progress and todo) else nullcontext(lambda: None)
    with bar as advance:
        # One stream of pairs: batches fill across prompts and suites.
        for record in (executor or LocalExecutor()).generate(store, generator, todo, on_record=lambda r: advance()):
            made += record.ok
            failed += not record.ok
    if failed:
        log.warning("%d image(s) failed; rerun with --resume to retry them", failed)
    return {"made": made, "failed": failed, "total": len(pairs)}


def generator_for(config: RunConfig) -> Any:
    """The config's generator, not loaded yet."""
    from generators import generator_class

    return generator_class(config.generator.type)(config.generator_params())


def score(
    store: RunStore,
    *,
    batch_size: int = 32,
    device: str = "auto",
    amp: bool = True,
    flush_every: int = 512,
    executor: Executor | None = None,
    progress: ProgressFactory | None = None,
) -> dict[str, int]:
    """Score every image the run's classifiers have not scored yet (scores.parquet); returns counts.

    Scores are saved every ``flush_every`` images: what a crash can cost.
    """
    config = load_run_config(store)
    if not config.classifiers:
        log.info("no classifiers configured: scoring skipped")
        return {"scored": 0, "skipped": 0, "total": 0}
    counts = (executor or LocalExecutor()).score(
        store,
        config.classifiers,
        batch_size=batch_size,
        device=device,
        amp=amp,
        flush_every=flush_every,
        source=str(store.root / RUN_INFO),
        progress=progress,
    )
    record_validation(store, config)
    return counts


def record_validation(store: RunStore, config: RunConfig) -> Path | None:
    """Write validation.json: every (classifier, attribute) in the scores, with its attached validation or none.

    The validation files attached to the config's classifiers are copied
    into the run directory, so the report, the analysis and the gate read
    them from the run alone. An attached file for an attribute the scores do
    not hold is listed under ``unmatched`` and logged.
    """
    from audit.findings.analysis import load_validation

    if not store.has_table(SCORES):
        return None
    scored = store.read_table(SCORES, columns=["classifier", "attribute"]).drop_duplicates()
    attached: dict[tuple[str, str], tuple[str, dict]] = {}
    for spec in config.classifiers:
        for path in spec.validation:
            for key, summary in load_validation([path]).items():
                attached[key] = (path, summary)
    domains = classifier_domains(config)
    entries = []
    for classifier, attribute in sorted(zip(scored["classifier"], scored["attribute"], strict=True)):
        path, summary = attached.pop((classifier, attribute), (None, None))
        entries.append(
            {
                "classifier": classifier,
                "attribute": attribute,
                "validated": summary is not None,
                "source": path,
                "summary": summary,
                "domain": _attribute_domain(domains.get(classifier), attribute),
            }
        )
    for (classifier, attribute), (path, _) in attached.items():
        log.warning("%s: validates %s of %s, which this run's scores do not hold", path, attribute, classifier)
    unmatched = [{"classifier": c, "attribute": a, "source": p} for (c, a), (p, _) in attached.items()]
    return store.write_json(VALIDATION, {"attributes": entries, "unmatched": unmatched})


def _attribute_domain(domain: dict[str, Any] | None, attribute: str) -> dict[str, Any] | None:
    """An attribute's domain entry: its own where its classifier narrows it, else the classifier's."""
    if domain is None:
        return None
    own = domain.get("attributes", {}).get(attribute)
    return own if own is not None else {k: v for k, v in domain.items() if k != "attributes"}


def classifier_domains(config: RunConfig) -> dict[str, dict[str, Any]]:
    """Per classifier id of the config: the kinds of images it was made for, the kind the run's generator
    makes, and whether that is within its domain (with the reason when not)."""
    from audit.classifiers import make_classifier

    if getattr(config, "generator", None) is None:
        return {}  # no generator in the config (a run of images scored alone): nothing to match against
    try:
        made = generator_for(config).image_domain()
    except (DiffauditError, ValueError, ImportError) as exc:
        log.warning("the generator's kind of images is unknown (%s): no classifier is held out of its domain", exc)
        return {}
    if made is None:
        return {}  # images of a kind nobody declared (a folder made elsewhere): no classifier is held outside
    out = {}
    for spec in config.classifiers:
        classifier = make_classifier(spec.type, dict(spec.params))
        out[classifier.classifier_id] = entry = _domain_entry(classifier.classifier_id, classifier.image_domain(), made)
        # Attributes made for fewer kinds of images than the classifier (its attribute_domains).
        entry["attributes"] = {
            attribute: _domain_entry(f"{attribute} of {classifier.classifier_id}", made_for_attribute, made)
            for attribute in classifier.attribute_domains
            if (made_for_attribute := classifier.attribute_domain(attribute)) != classifier.image_domain()
        }
    return out


def _domain_entry(what: str, made_for: tuple[str, ...], made: str) -> dict[str, Any]:
    inside = made in made_for
    return {
        "made_for": list(made_for),
        "generator": made,
        "in_domain": inside,
        "reason": None
        if inside
        else f"out of domain: {what} was made for {' and '.join(made_for)}, this run's generator makes {made}",
    }


def analyze(store: RunStore) -> list[Path]:
    """Write tables/*.parquet and findings.json under the run's policy; returns the paths (none without scores).

    The validation summaries attached to the run's classifiers go to the
    analysis (classifier-error correction; policies that require validation).
    """
    if not store.has_table(SCORES):
        log.info("no scores in this run: statistics and findings skipped")
        return []
    from audit.findings import analyze_run, write_analysis

    return write_analysis(store, analyze_run(store, validation=store.validation_summaries()))


def report(store: RunStore, *, thumbnails_per_prompt: int | None = None) -> dict[str, Path]:
    """Write report.html, summary.json, summary.md and junit.xml from the run directory alone; returns their paths."""
    from reports import THUMBNAILS_PER_PROMPT, write_report

    cap = THUMBNAILS_PER_PROMPT if thumbnails_per_prompt is None else thumbnails_per_prompt
    try:
        return write_report(store, thumbnails_per_prompt=cap)
    except UnreadableRunFile as exc:
        if not (exc.name == FINDINGS or exc.name.startswith(f"{TABLES}/")) or not store.has_table(SCORES):
            raise
        broken = str(exc).split(";")[0]
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        try:
            load_run_config(store)  # run.yaml holds a config diffaudit can read?
        except ConfigError as bad:
            reason = str(bad).removeprefix(f"{store.root / RUN_INFO}: ")
            raise UnreadableRunFile(store.root, RUN_INFO, reason) from None
        if not store.has_table(SCORES):
            raise
        broken = f"{store.root}: findings.json or tables hold what the analysis never wrote ({exc!r})"
    # Findings and tables are the analysis's output: made again from the scores, as `diffaudit gate` does.
    log.warning("%s: analysing the run again", broken)
    analyze(store)
    return write_report(store, thumbnails_per_prompt=cap)
