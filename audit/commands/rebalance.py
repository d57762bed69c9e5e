"""``diffaudit rebalance``: synthetic images of the groups a run under-represents, kept only when verified.

For each prompt of the run (or those ``--where`` selects) the dataset gets
``count`` images split over the labels of one attribute by the target shares
(``uniform``, or a YAML/JSON file of label → share). The run's own images
fill each label's quota first when the classifier assigns them that label
with probability at least ``threshold``; the rest come from new candidates,
made with the run's generator and config at seeds the run has not used:

- a text-to-image generator is asked for the label: the prompt gets the
  label's description (``--describe LABEL=TEXT``, else the label set's class
  text, for example "deep skin");
- a generator that does not read prompts (the project's class-conditional
  DDPM, whose class is the prompt's occupation) is sampled as it is, and
  only the candidates the classifier assigns to a short label are kept.

Every candidate is classified by the run's classifier for the attribute;
only those assigned to a label still short of its quota, at probability at
least ``threshold``, are kept. Before spending, the acceptance rate of each
short label is estimated (from the run's images, or from a first batch of
candidates) and the run stops with a clear message when reaching the quota
would take more candidates than ``budget``.

The dataset folder holds the images, ``manifest.csv`` (the ``folder``
generator's format, with each image's label, probability and source),
``prompts.csv`` + ``suite.yaml`` + ``audit.yaml`` (audit it with
``diffaudit run DIR/audit.yaml``), and ``datasheet.json`` / ``datasheet.md``:
target and achieved shares with intervals, acceptance rate per label, the
classifier with its validation figures, and the caveat that labels are
perceived, not true. The source run records the dataset in rebalanced.json.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from audit.commands.exit_codes import PASS
from audit.commands.options import key_value_pairs
from audit.core.constants import UNKNOWN
from audit.core.errors import ConfigError, DiffauditError
from audit.core.records import ProbeItem, stable_hash
from audit.core.run_store import REBALANCED, RunStore

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.8
CAVEAT = (
    "Labels are how a classifier perceives each image, not who anyone is or what an image truly shows. "
    "Images were kept because the same classifier assigned them the intended label: an audit with that "
    "classifier agrees by construction; an independent classifier or a person is the real check."
)


@dataclasses.dataclass
class _Quota:
    """One prompt's images: the quota of each label, the images kept, and what the candidates showed.

    ``tried[label]``: candidates that could have filled the label (all of them for a generator that is not
    asked for a label); ``hits[label]``: candidates the classifier assigned to it at the threshold.
    ``run_seen`` and ``run_hits``: the same for the run's own images of the prompt.
    """

    item: ProbeItem
    quota: dict[str, int]
    kept: dict[str, list[dict[str, Any]]]
    run_seen: int
    run_hits: dict[str, int]
    tried: dict[str, int]
    hits: dict[str, int]

    def short(self) -> dict[str, int]:
        return {label: n - len(self.kept[label]) for label, n in self.quota.items() if len(self.kept[label]) < n}

    def acceptance(self, label: str, conditioned: bool) -> tuple[int, int]:
        """(hits, tried) to estimate a label's acceptance: the candidates', and for an unasked generator the run's."""
        if conditioned:
            return self.hits[label], self.tried[label]
        return self.run_hits[label] + self.hits[label], self.run_seen + self.tried[label]


def read_target(spec: str, labels: Sequence[str]) -> dict[str, float]:
    """``uniform`` or a YAML/JSON file of label → share (normalised); a label the attribute lacks is an error."""
    if spec == "uniform":
        return {label: 1 / len(labels) for label in labels}
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(f"--target: expected 'uniform' or a YAML/JSON file of label shares, got {spec!r}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a mapping of label to share")
    for label, share in data.items():
        if str(label) not in labels:
            raise ConfigError(f"{path}: {label}: not a label of the attribute ({', '.join(labels)})")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or share < 0:
            raise ConfigError(f"{path}: {label}: expected a non-negative share, got {share!r}")
    total = float(sum(data.values()))
    if total <= 0:
        raise ConfigError(f"{path}: the shares sum to 0")
    return {str(label): float(share) / total for label, share in data.items()}


def allocate(count: int, target: dict[str, float]) -> dict[str, int]:
    """``count`` images split by the target shares, largest remainders first (so the parts sum to count)."""
    raw = {label: count * share for label, share in target.items()}
    quota = {label: int(math.floor(v)) for label, v in raw.items()}
    order = sorted(raw, key=lambda label: (-(raw[label] - quota[label]), label))
    for label in order[: count - sum(quota.values())]:
        quota[label] += 1
    return quota


def rebalance_command(
    run_dir: Path,
    attribute: str,
    target: str,
    count: int,
    *,
    classifier: str | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    budget: int | None = None,
    out: Path | None = None,
    where: Sequence[str] = (),
    describe: Sequence[str] = (),
) -> tuple[list[str], int]:
    """Write a rebalanced dataset folder for ``attribute`` of the run in ``run_dir``; returns lines and exit code."""
    from audit.classifiers.scoring import build_classifiers
    from audit.findings.analysis import run_labels
    from audit.runner import load_run_config
    from generators import generator_class

    if count < 1:
        raise ConfigError(f"--count: must be at least 1, got {count}")
    if not 0 < threshold <= 1:
        raise ConfigError(f"--threshold: must lie in (0, 1], got {threshold}")
    budget = budget if budget is not None else 20 * count
    if budget < 1:
        raise ConfigError(f"--budget: must be at least 1, got {budget}")
    with RunStore.open(run_dir) as store:
        config = load_run_config(store)
        labels_table, categories = run_labels(store)
        spec, classifier_id = _classifier_for(config, labels_table, attribute, classifier)
        labels = [label for label in categories.get((classifier_id, attribute), []) if label != UNKNOWN]
        shares = read_target(target, labels)
        items = _selected(store.probes(), where)
        if not items:
            raise ConfigError(f"--where: no prompt of {run_dir} matches {', '.join(where)}")
        descriptions = _descriptions(spec, attribute, describe)
        mine = labels_table[(labels_table["classifier"] == classifier_id) & (labels_table["attribute"] == attribute)]
        quotas = {item.item_id: _initial_quota(item, allocate(count, shares), mine, threshold) for item in items}
        generator = generator_class(config.generator.type)(config.generator_params())
        (model,) = build_classifiers([spec], device="auto", source=str(store.root / "run.yaml"))
        next_seed = 1 + max((r.seed for r in store.generations()), default=-1)
        out = Path(out) if out is not None else store.root.parent / f"{store.root.name}-rebalanced-{attribute}"
        if out.exists() and any(out.iterdir()):
            raise ConfigError(f"--out: {out} exists and is not empty; choose a new folder")
        for quota in quotas.values():
            next_seed = _fill(quota, generator, model, attribute, threshold, budget, next_seed, descriptions)
        # Only a complete dataset is written: a run stopped by the budget leaves no folder behind.
        out.mkdir(parents=True, exist_ok=True)
        datasheet = _write_dataset(out, store, config, quotas, shares, attribute, classifier_id, threshold, budget)
        record = {k: datasheet[k] for k in ("dataset", "attribute", "classifier", "target", "achieved", "tv")}
        previous = json.loads((store.root / REBALANCED).read_text()) if (store.root / REBALANCED).exists() else []
        store.write_json(REBALANCED, [*previous, record])
    lines = [
        f"rebalanced {attribute} over {len(quotas)} prompt(s), {count} images each, target "
        + ", ".join(f"{k} {v:.2f}" for k, v in shares.items()),
        *(
            f"  {label}: {a['count']} images ({a['share']:.3f}, 95% CI {a['ci'][0]:.3f}-{a['ci'][1]:.3f}); "
            f"acceptance of new candidates {_rate(datasheet['acceptance'][label])}"
            for label, a in datasheet["achieved"].items()
        ),
        f"TV from the target: {datasheet['tv']:.3f}",
        f"dataset: {out}",
        f"audit it: diffaudit run {out / 'audit.yaml'}",
    ]
    return lines, PASS


def _rate(entry: dict[str, Any]) -> str:
    if not entry["tried"]:
        return "- (none needed)"
    return f"{entry['accepted']}/{entry['tried']} = {entry['accepted'] / entry['tried']:.3f}"


def _classifier_for(config: Any, labels: Any, attribute: str, wanted: str | None) -> tuple[Any, str]:
    """The config entry and id of the classifier that scored ``attribute`` (``--classifier`` when several did)."""
    from audit.classifiers.scoring import make_classifier

    scored = sorted(set(labels.loc[labels["attribute"] == attribute, "classifier"]))
    if not scored:
        known = ", ".join(sorted(set(labels["attribute"])))
        raise ConfigError(f"--attribute: the run has no scores for {attribute!r} (it has: {known})")
    if wanted is None and len(scored) > 1:
        raise ConfigError(f"--attribute: {attribute!r} is scored by {', '.join(scored)}; choose one with --classifier")
    chosen = wanted or scored[0]
    if chosen not in scored:
        raise ConfigError(f"--classifier: {chosen!r} did not score {attribute!r} (scored by: {', '.join(scored)})")
    for spec in config.classifiers:
        if make_classifier(spec.type, dict(spec.params)).classifier_id == chosen:
            return spec, chosen
    raise ConfigError(f"--classifier: {chosen!r} is not among the run's configured classifiers")


def _selected(items: list[ProbeItem], where: Sequence[str]) -> list[ProbeItem]:
    wanted = key_value_pairs(where, "--where", "attribute=value", empty_value=True)
    return [
        item
        for item in items
        if item.screening != "blocked" and all(str(item.attributes.get(k)) == v for k, v in wanted.items())
    ]


def _descriptions(spec: Any, attribute: str, describe: Sequence[str]) -> dict[str, str]:
    """Each label's words for a prompt: ``--describe`` first, else the CLIP label set's class text."""
    out: dict[str, str] = {}
    label_set = spec.params.get("label_set") if spec.type == "clip" else None
    if label_set:
        from audit.classifiers.label_set import load_label_set

        attribute_spec = load_label_set(label_set).attributes.get(attribute)
        if attribute_spec is not None:
            out.update(attribute_spec.classes)
    out.update(key_value_pairs(describe, "--describe", "label=text"))
    return out


def _initial_quota(item: ProbeItem, quota: dict[str, int], mine: Any, threshold: float) -> _Quota:
    """The quota of one prompt, with the run's own images kept where the classifier is sure enough."""
    kept: dict[str, list[dict[str, Any]]] = {label: [] for label in quota}
    rows = mine[mine["item_id"] == item.item_id].sort_values("seed")
    hits = {label: 0 for label in quota}
    for row in rows.itertuples(index=False):
        if row.label in kept and row.prob >= threshold:
            hits[row.label] += 1
            if len(kept[row.label]) < quota[row.label]:
                kept[row.label].append({"seed": int(row.seed), "prob": float(row.prob), "source": "run", "data": None})
    zero = {label: 0 for label in quota}
    return _Quota(item, quota, kept, len(rows), hits, dict(zero), dict(zero))


def _fill(
    quota: _Quota,
    generator: Any,
    model: Any,
    attribute: str,
    threshold: float,
    budget: int,
    next_seed: int,
    descriptions: dict[str, str],
) -> int:
    """Generate and classify candidates for one prompt's short labels until its quota is met; returns the next seed."""
    from PIL import Image

    conditioned = generator.reads_prompt
    spent = 0
    while quota.short():
        short = quota.short()
        _check_budget(quota, short, budget - spent, conditioned)
        # A text-to-image model is asked for one short label at a time; a class-conditional one is sampled as is.
        label = max(short, key=short.get) if conditioned else None
        item = quota.item
        if label is not None:
            words = descriptions.get(label)
            if words is None:
                raise DiffauditError(
                    f"rebalance: no words to ask the generator for {attribute}={label!r}; give --describe {label}=TEXT"
                )
            item = dataclasses.replace(item, prompt=f"{item.prompt}, {words}")
        size = min(max(1, generator.params.batch_size), budget - spent)
        pairs = [(item, seed) for seed in range(next_seed, next_seed + size)]
        next_seed += size
        spent += size
        made = [out for batch in generator.plan_batches(pairs) for out in generator.render(batch) if out[1] is not None]
        images = [Image.open(io.BytesIO(encoded.data)).convert("RGB") for _, encoded in made]
        for (record, encoded), result in zip(made, model.classify(images) if images else [], strict=True):
            rows = [(lab, prob) for name, lab, prob in result.labels if name == attribute]
            decided, prob = max(rows, key=lambda r: (r[1], r[0] == UNKNOWN)) if rows else (UNKNOWN, 0.0)
            for counted in [label] if label is not None else list(quota.quota):
                quota.tried[counted] += 1
            if decided not in quota.quota or prob < threshold:
                continue
            quota.hits[decided] += 1
            if decided in quota.short() and (label is None or decided == label):
                quota.kept[decided].append(
                    {"seed": record.seed, "prob": float(prob), "source": "generated", "data": encoded.data}
                )
        if spent >= budget and quota.short():
            _check_budget(quota, quota.short(), 0, conditioned)
    return next_seed


def _check_budget(quota: _Quota, short: dict[str, int], remaining: int, conditioned: bool) -> None:
    """Stop with a clear message when a short label's acceptance makes its quota unreachable within the budget.

    A label with nothing measured yet gets its first batch; the estimate then uses (hits + 0.5) / (tried + 1),
    so a label never seen reads as rare, not impossible. A generator asked for one label at a time spends the
    budget on each short label in turn (the needs add up); one sampled as it is fills them all at once.
    """
    needs = {}
    for label, missing in short.items():
        hits, tried = quota.acceptance(label, conditioned)
        if tried == 0 and remaining > 0:
            continue
        rate = (hits + 0.5) / (tried + 1)
        needs[label] = (math.ceil(missing / rate), hits, tried, rate, missing)
    total = sum(n[0] for n in needs.values()) if conditioned else max((n[0] for n in needs.values()), default=0)
    if needs and total > remaining:
        label, (needed, hits, tried, rate, missing) = max(needs.items(), key=lambda kv: kv[1][0])
        what = "candidates asked for it" if conditioned else "images of the prompt"
        raise DiffauditError(
            f"rebalance: prompt {quota.item.prompt!r}: {label!r} was assigned in {hits} of {tried} {what} "
            f"(about {rate:.3f}); {missing} more would take about {needed} candidates, beyond the {remaining} left "
            "of the budget (raise --budget, lower --threshold or --count, or describe the label with --describe)"
        )


def _write_dataset(
    out: Path,
    store: RunStore,
    config: Any,
    quotas: dict[str, _Quota],
    shares: dict[str, float],
    attribute: str,
    classifier_id: str,
    threshold: float,
    budget: int,
) -> dict[str, Any]:
    """The images, manifest, suite, audit config and datasheet of the dataset; returns the datasheet."""
    from audit.stats import goodman_intervals, tv_distance, wilson_interval

    manifest_rows, prompt_rows = [], []
    attribute_names = sorted(
        {k for q in quotas.values() for k, v in q.item.attributes.items() if isinstance(v, (str, int, float, bool))}
    )
    for quota in quotas.values():
        item = quota.item
        prompt_rows.append({"prompt": item.prompt, **{k: item.attributes.get(k, "") for k in attribute_names}})
        index = 0
        for label in quota.quota:
            for kept in quota.kept[label]:
                name = f"images/{item.item_id}/{index}.png"
                path = out / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if kept["data"] is None:  # one of the run's own images
                    path.write_bytes((store.root / store.image_relpath(item.item_id, kept["seed"])).read_bytes())
                else:
                    path.write_bytes(kept["data"])
                manifest_rows.append(
                    {
                        "prompt": item.prompt,
                        "seed": index,
                        "image": name,
                        "item_id": item.item_id,
                        "source_seed": kept["seed"],
                        "source": kept["source"],
                        attribute: label,
                        "prob": round(kept["prob"], 4),
                    }
                )
                index += 1
    with (out / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(manifest_rows[0]) if manifest_rows else ["prompt", "seed", "image"])
        writer.writeheader()
        writer.writerows(manifest_rows)
    with (out / "prompts.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["prompt", *attribute_names])
        writer.writeheader()
        writer.writerows(prompt_rows)
    per_prompt = max(sum(q.quota.values()) for q in quotas.values())
    name = f"{store.root.name}-rebalanced-{attribute}"
    suite = {
        "name": name,
        "description": f"{store.root.name} rebalanced on {attribute} ({_shares_text(shares)})",
        "seeds": per_prompt,
        "rows": {"file": "prompts.csv", "prompt": "prompt", "attributes": {k: k for k in attribute_names}},
        "screening": {"mode": "record"},
    }
    (out / "suite.yaml").write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    audit = {
        "name": name,
        "generator": {"type": "folder", "manifest": str((out / "manifest.csv").resolve()), "min_size": 8},
        "probes": [{"suite": str((out / "suite.yaml").resolve())}],
        "classifiers": [c.as_dict() for c in config.classifiers],
        "policy": config.policy,
        "output": str(out.resolve().parent),
    }
    (out / "audit.yaml").write_text(yaml.safe_dump(audit, sort_keys=False), encoding="utf-8")
    counts = {label: sum(len(q.kept[label]) for q in quotas.values()) for label in shares}
    total = sum(counts.values())
    vector = [counts[label] for label in shares]
    if len(vector) == 2:
        lows, highs = wilson_interval(vector, total)
    else:
        lows, highs = goodman_intervals(vector)
    achieved = {
        label: {
            "count": counts[label],
            "share": counts[label] / total if total else math.nan,
            "ci": [float(lows[j]), float(highs[j])],
        }
        for j, label in enumerate(shares)
    }
    validation = store.validation_summaries().get((classifier_id, attribute))
    run_seen = sum(q.run_seen for q in quotas.values())
    datasheet = {
        "dataset": str(out),
        "source_run": str(store.root),
        "generator": config.generator.as_dict(),
        "mitigation": config.as_dict().get("mitigation"),
        "attribute": attribute,
        "classifier": classifier_id,
        "threshold": threshold,
        "budget_per_prompt": budget,
        "prompts": len(quotas),
        "target": shares,
        "achieved": achieved,
        "tv": float(tv_distance([counts[label] / total for label in shares], list(shares.values()))) if total else None,
        "acceptance": {
            label: {
                "accepted": sum(q.hits[label] for q in quotas.values()),
                "tried": sum(q.tried[label] for q in quotas.values()),
                "kept": sum(1 for q in quotas.values() for k in q.kept[label] if k["source"] == "generated"),
                "from_run": sum(1 for q in quotas.values() for k in q.kept[label] if k["source"] == "run"),
                "run_rate": sum(q.run_hits[label] for q in quotas.values()) / max(1, run_seen),
            }
            for label in shares
        },
        "classifier_validation": validation,
        "caveat": CAVEAT,
        "config_hash": stable_hash(config.as_dict()),
    }
    (out / "datasheet.json").write_text(json.dumps(datasheet, indent=2) + "\n", encoding="utf-8")
    (out / "datasheet.md").write_text(_datasheet_markdown(datasheet), encoding="utf-8")
    return datasheet


def _shares_text(shares: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in shares.items())


def _datasheet_markdown(sheet: dict[str, Any]) -> str:
    lines = [
        f"# Datasheet: {Path(sheet['dataset']).name}",
        "",
        f"Rebalanced from the run `{sheet['source_run']}` on the attribute **{sheet['attribute']}**, "
        f"{sheet['prompts']} prompt(s). Images were kept when the classifier `{sheet['classifier']}` assigned them "
        f"the intended label with probability at least {sheet['threshold']}.",
        "",
        "| label | target | achieved (95% CI) | images | new candidates accepted / tried | from the run |",
        "|---|---|---|---|---|---|",
    ]
    for label, target in sheet["target"].items():
        a, acc = sheet["achieved"][label], sheet["acceptance"][label]
        lines.append(
            f"| {label} | {target:.3f} | {a['share']:.3f} ({a['ci'][0]:.3f}-{a['ci'][1]:.3f}) | {a['count']} | "
            f"{acc['accepted']} / {acc['tried']} | {acc['from_run']} |"
        )
    lines += ["", f"Total variation from the target: {sheet['tv']:.3f}.", ""]
    validation = sheet.get("classifier_validation")
    if validation:
        accuracy = (validation.get("accuracy") or {}).get("value")
        lines.append(
            f"Classifier validation attached to the run: accuracy {accuracy} on {validation.get('n_images')} images."
        )
    else:
        lines.append(
            "The classifier has no validation attached to the run: its accuracy on these images is unvalidated."
        )
    lines += [
        "",
        f"**Caveat.** {sheet['caveat']}",
        "",
        "Audit the dataset: `diffaudit run audit.yaml` (in this folder).",
        "",
    ]
    return "\n".join(lines)
