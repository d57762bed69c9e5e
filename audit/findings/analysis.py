"""The analysis stage: a run's scores → tables/*.parquet and findings.json, under a policy."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd

from audit.core.constants import RESERVED_COLUMNS
from audit.core.errors import ConfigError, RunStoreError
from audit.core.records import Finding
from audit.core.run_store import EMBEDDINGS, FINDINGS, SCORES, TABLES, RunStore, seeds_for
from audit.findings.checks import CHECK_TYPES
from audit.findings.detectable import attach_detectable
from audit.findings.evaluate import evaluate_check, evaluate_policy
from audit.findings.gate import verdict
from audit.findings.judgement import CheckResult, with_not_judged
from audit.findings.policy import Policy, load_policy
from audit.findings.report_section import ReportSection, check_section
from audit.findings.sequential import SamplingDesign, SequentialState, design_of, sequential_state
from audit.stats import (
    FAIL,
    NOT_JUDGED,
    PASS,
    corrected_distributions,
    deviations,
    distributions,
    embedding_diversity,
    image_labels,
    label_sets,
)
from audit.stats.image_labels import check_scores

log = logging.getLogger(__name__)

_SAFE = re.compile(r"[^A-Za-z0-9_]+")
# tables/image_labels.parquet: one decided label per (image, classifier, attribute).
IMAGE_LABEL_COLUMNS = ("record_id", "item_id", "seed", "classifier", "attribute", "label", "prob")


@dataclasses.dataclass
class Analysis:
    """What the analysis of a run found: the policy, its check results and the descriptive tables."""

    policy: Policy
    results: dict[str, CheckResult]
    tables: dict[str, pd.DataFrame]
    design: SamplingDesign = dataclasses.field(default_factory=SamplingDesign)
    sampling: dict[str, Any] | None = None  # a sequential run's images used and budget, rounds, stops
    sections: dict[str, ReportSection] = dataclasses.field(default_factory=dict)  # each check's part of the report
    prompts_not_screened: int = 0  # prompts the input screen could not read (generated; the gate counts them)

    @property
    def findings(self) -> list[Finding]:
        return [f for result in self.results.values() for f in result.findings]

    @property
    def failed(self) -> list[Finding]:
        """Failed groups that fail the run (severity ``error``)."""
        return [f for f in self.findings if f.status == FAIL and f.severity == "error"]

    @property
    def verdict(self) -> str:
        """The gate's verdict: "pass", "fail" or "not_judged" (see :func:`audit.findings.gate.verdict`)."""
        return verdict(self.results.values(), underpowered=self.policy.underpowered)

    def as_json(self) -> dict[str, Any]:
        findings = self.findings
        checks = []
        for check in self.policy.checks:
            result = self.results[check.id]
            entry = dict(result.summary)
            pooled_of = getattr(CHECK_TYPES.get(check.check), "pooled", None)  # a rate over every judged group
            if pooled_of is not None:
                entry["pooled"] = pooled_of(check, result.table)
            if check.id in self.sections:  # the check's own table, figure and JUnit lines (reports/ renders them)
                entry["report"] = self.sections[check.id].as_dict()
            checks.append(entry)
        not_applicable = [r for r in self.results.values() if not r.summary.get("applicable", True)]
        return {
            "policy": self.policy.name,
            "policy_source": self.policy.source,
            "policy_options": {"power": self.policy.power, "underpowered": self.policy.underpowered},
            "verdict": self.verdict,
            "passed": self.verdict == PASS,
            "counts": {
                "findings": len(findings),
                "passed": sum(f.status == PASS for f in findings),
                "failed": len(self.failed),
                "not_judged": sum(f.status == NOT_JUDGED for f in findings),
                "warnings": sum(1 for f in findings if f.status == FAIL and f.severity == "warning"),
                "not_applicable": len(not_applicable),
                "underpowered": sum(bool(r.summary.get("underpowered")) for r in self.results.values()),
                "skipped": len(not_applicable),  # the earlier name of not_applicable
                "prompts_not_screened": self.prompts_not_screened,
            },
            "checks": checks,
            "findings": [f.as_dict() for f in findings],
            "design": {**self.design.as_dict(), **(self.sampling or {})},
        }


def merged_categories(*category_maps: dict) -> dict:
    """Each (classifier, attribute)'s labels over several runs' label sets (sorted), for comparing runs."""
    keys = set().union(*category_maps)
    return {key: sorted(set().union(*(m.get(key, ()) for m in category_maps))) for key in keys}


def run_labels(store: RunStore) -> tuple[pd.DataFrame, dict]:
    """The run's per-image labels and each attribute's label set, from scores.parquet."""
    path = store.root / SCORES
    try:
        scores = store.read_table(SCORES)
        check_scores(scores, source=str(path))
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RunStoreError(message if str(path) in message else f"{path}: cannot read ({message})") from None
    return image_labels(scores, store.generations(), store.probes()), label_sets(scores)


def policy_for(store: RunStore, policy: str | Path | Policy | None) -> Policy:
    """The policy given, or the one the run's config names (``default`` when none)."""
    if isinstance(policy, Policy):
        return policy
    if policy is None:
        policy = (store.config or {}).get("policy") or "default"
    return load_policy(policy)


def load_validation(paths: list[str | Path]) -> dict[tuple[str, str], dict]:
    """Classifier validation summaries (``diffaudit validate-classifier`` JSON) keyed by (classifier, attribute)."""
    out: dict[tuple[str, str], dict] = {}
    for path in paths:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: file not found") from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: not a validation summary ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: not a validation summary (expected a JSON object)")
        for key in ("classifier", "attribute", "labels", "predicted_labels", "confusion_matrix"):
            if key not in data:
                raise ConfigError(f"{path}: missing key '{key}' of a classifier validation summary")
        classifier = data["classifier"]
        classifier = classifier.get("classifier") if isinstance(classifier, dict) else classifier
        if not isinstance(classifier, str):
            raise ConfigError(f"{path}: classifier: expected a classifier id, got {data['classifier']!r}")
        out[(classifier, str(data["attribute"]))] = data
    return out


def analyze_run(
    store: RunStore,
    policy: str | Path | Policy | None = None,
    *,
    seed: int = 0,
    tables: bool = True,
    validation: dict[tuple[str, str], dict] | None = None,
) -> Analysis:
    """Evaluate the policy and (with ``tables``) compute the descriptive tables and each check's report section;
    writes nothing.

    ``validation`` (see :func:`load_validation`) adds ``corrected_prompt``:
    shares per prompt corrected for the validated classifiers' errors; checks
    with ``correct_for_classifier_error`` judge corrected shares with it, and
    checks with ``require_validation`` are not judged without it.
    """
    policy = policy_for(store, policy)
    labels, categories = run_labels(store)
    outside = store.out_of_domain()
    judged = _within_domain(labels, outside)
    design = design_of(store.config)
    state = None
    if design.sequential:
        state = sequential_run_state(store, policy, traces=tables)
        results = {}
        for check in policy.checks:
            results[check.id] = state.results.get(check.id) or _fixed_in_sequential(
                evaluate_check(check, judged, categories, seed=seed, validation=validation), check
            )
    else:
        results = evaluate_policy(policy, judged, categories, seed=seed, validation=validation)
    suites = [str(p["suite"]) for p in (store.config or {}).get("probes", []) if isinstance(p, dict) and "suite" in p]
    for check in policy.checks:
        reasons = [
            (classifier, reason)
            for (classifier, attribute), reason in sorted(outside.items())
            if attribute == check.attribute and check.classifier in (None, classifier)
        ]
        if reasons:
            results[check.id] = with_not_judged(check, results[check.id], reasons)
        elif results[check.id].summary.get("design") != "sequential":  # a sequential test has no fixed-n power
            attach_detectable(
                check, results[check.id], power=policy.power, suites=suites, prompts_per_group=_prompts(judged, check)
            )
    sampling = _sampling_summary(store, design, state) if state is not None else None
    unscreened = sum(item.screening == "not_screened" for item in store.probes())
    if not tables:  # a verdict only (the gate): no report, so neither tables nor the checks' report sections
        return Analysis(
            policy=policy,
            results=results,
            tables={},
            design=design,
            sampling=sampling,
            prompts_not_screened=unscreened,
        )
    sections = {check.id: check_section(check, results[check.id], judged, categories) for check in policy.checks}
    described = descriptive_tables(labels, categories, seed=seed)
    if state is not None and not state.traces.empty:
        described["sequential_traces"] = state.traces
    # What the report shows beside the statistics: each image's decided labels (each check's own figures and
    # tables are in its report section).
    described["image_labels"] = labels.loc[:, list(IMAGE_LABEL_COLUMNS)].reset_index(drop=True)
    if (store.root / EMBEDDINGS).exists():
        try:
            embeddings = store.read_table(EMBEDDINGS)
            diversity = embedding_diversity(embeddings, labels, by=["suite", "prompt"])
            # A measure from a classifier's embeddings is out of domain where the classifier is.
            reasons = {classifier: reason for (classifier, _), reason in sorted(outside.items())}
            if not diversity.empty and "classifier" in diversity.columns:
                diversity["out_of_domain"] = diversity["classifier"].map(reasons)
            described["diversity_prompt"] = diversity
        except (OSError, ValueError) as exc:
            raise RunStoreError(f"{store.root / EMBEDDINGS}: {str(exc).splitlines()[0]}") from None
    if validation:
        try:
            described["corrected_prompt"] = corrected_distributions(
                labels, validation, by=["suite", "prompt"], categories=categories, seed=seed
            )
        except ValueError as exc:
            raise ConfigError(f"classifier validation: {exc}") from None
    return Analysis(
        policy=policy,
        results=results,
        tables=described,
        design=design,
        sampling=sampling,
        sections=sections,
        prompts_not_screened=unscreened,
    )


def _within_domain(labels: pd.DataFrame, outside: dict[tuple[str, str], str]) -> pd.DataFrame:
    """The labels of (classifier, attribute) pairs inside their classifier's domain: the ones checks judge."""
    if not outside or labels.empty:
        return labels
    keys = pd.MultiIndex.from_frame(labels[["classifier", "attribute"]])
    return labels[~keys.isin(list(outside))]


def sequential_run_state(
    store: RunStore,
    policy: str | Path | Policy | None = None,
    *,
    rounds_done: int | None = None,
    traces: bool = False,
) -> SequentialState:
    """Where a sequential run stands after ``rounds_done`` rounds (default: the rounds sequential.json records).

    Only the images of those rounds are read — their labels and label sets — so the state after round r is
    the same whether the run went on uninterrupted or was killed later and resumed.
    """
    policy = policy_for(store, policy)
    design = design_of(store.config)
    if rounds_done is None:
        rounds_done = int(store.sequential_progress().get("rounds_done", 0))
    items = [item for item in store.probes() if item.screening != "blocked"]
    seeds_of = {item.item_id: design.budget(seeds_for(item, store.seeds)) for item in items}
    end = rounds_done * design.round
    made = {(item, seed) for item, seeds in seeds_of.items() for seed in seeds[:end]}
    records = [r for r in store.generations() if (r.item_id, r.seed) in made]
    labels = pd.DataFrame(columns=["record_id", "item_id", "seed", "classifier", "attribute", "label"])
    categories: dict = {}
    if store.has_table(SCORES) and records:
        scores = store.read_table(SCORES)
        check_scores(scores, source=str(store.root / SCORES))
        scores = scores[scores["record_id"].isin({r.record_id for r in records})]
        if len(scores):
            labels, categories = image_labels(scores, records, store.probes()), label_sets(scores)
    return sequential_state(policy.checks, labels, categories, seeds_of, design, rounds_done=rounds_done, traces=traces)


def _prompts(labels: pd.DataFrame, check) -> int:
    """The most prompts one group of the check pools (1 when it groups by prompt)."""
    by = [c for c in getattr(check, "by", []) if c in labels.columns]
    if not by or labels.empty or "item_id" not in labels.columns:
        return 1
    return int(labels.groupby(by, dropna=False)["item_id"].nunique().max())


def _fixed_in_sequential(result: CheckResult, check) -> CheckResult:
    """A check without a sequential test, in a sequential run: its fixed-n result, with what that means said."""
    if check.severity == "error" or not result.summary.get("applicable", True):
        result.summary["design"] = "fixed-n (its prompts ran to the budget)" if check.severity == "error" else "fixed-n"
        return result
    result.summary["design"] = "fixed-n on a sequentially stopped sample"
    result.summary["note"] = (
        "this check has no sequential test and does not gate: it was computed by its fixed-n method on the images "
        "the sequential run made, whose numbers other checks' stop rules chose, so its error rates are not guaranteed"
    )
    return result


def _sampling_summary(store: RunStore, design: SamplingDesign, state: SequentialState) -> dict[str, Any]:
    """What a sequential run spent: images made against the fixed design's, rounds, and why groups stopped."""
    items = [item for item in store.probes() if item.screening != "blocked"]
    budget = sum(len(design.budget(seeds_for(item, store.seeds))) for item in items)
    made = sum(1 for record in store.generations() if record.ok)
    stops: dict[str, int] = {}
    for result in state.results.values():
        if "stop" in result.table.columns:
            for stop, count in result.table["stop"].value_counts().items():
                stops[str(stop)] = stops.get(str(stop), 0) + int(count)
    return {
        "images": made,
        "images_fixed": budget,
        "images_ratio_vs_fixed": made / budget if budget else None,
        "rounds_done": state.rounds_done,
        "prompts_running": len(state.running_items),
        "stops": stops,
    }


def descriptive_tables(labels: pd.DataFrame, categories: dict, *, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Distributions per prompt and per probe attribute, and each prompt's deviation from parity."""
    tables: dict[str, pd.DataFrame] = {
        "distributions_prompt": distributions(labels, by=["suite", "prompt"], categories=categories),
        "deviation_prompt": deviations(labels, by=["suite", "prompt"], categories=categories, seed=seed).drop(
            columns=["evidence"], errors="ignore"
        ),
    }
    probe_columns = [c for c in labels.columns if c not in RESERVED_COLUMNS]
    for column in probe_columns:
        if labels[column].map(lambda v: isinstance(v, (str, int, bool))).all():
            name = _SAFE.sub("_", str(column))
            tables[f"distributions_{name}"] = distributions(labels, by=[column], categories=categories)
    return tables


def write_analysis(store: RunStore, analysis: Analysis) -> list[Path]:
    """Write tables/*.parquet (descriptive tables and one per check) and findings.json; returns the paths."""
    paths = []
    for name, table in analysis.tables.items():
        paths.append(store.write_table(f"{TABLES}/{name}.parquet", table))
    for check_id, result in analysis.results.items():
        if not result.table.empty:
            paths.append(store.write_table(f"{TABLES}/check_{_SAFE.sub('_', check_id)}.parquet", result.table))
    paths.append(store.write_json(FINDINGS, analysis.as_json()))
    for finding in analysis.failed:
        log.warning("failed %s: %s", finding.check, finding.summary)
    return paths
