"""Prompt suites as data: templates with slots (or rows of a CSV), expanded into ProbeItems.

A suite is a YAML file::

    name: demo
    description: two prompts to show the pipeline end to end
    about: [occupation]            # attributes the suite is about
    seeds: 2                       # seeds per prompt (0..n-1) or a list
    negative_prompt: null
    templates:
      - "a photo of the face of {occupation}"
    slots:
      occupation:
        - doctor                   # a plain value ...
        - value: nurse             # ... or a value with the text the prompt shows,
          text: a nurse            #     attributes and reference shares
          attributes: {field: health}
          reference: {pct_women: 87.9}
    reference: {baseline: parity}  # merged into every item's reference
    reference_source: {source: ..., year: 2022}  # added where a value brings figures
    pair_over: identity            # items differing only in this slot form a pair
    screening: {mode: block}       # or record: screen, but generate anyway
    select: {occupation: [nurse]}  # keep only items with these attribute values

Instead of templates, a suite may read its prompts from a CSV file next to it
(``rows:``, one prompt per row, with columns for attributes, reference figures
and a per-row seed), which is how the 4,703 I2P prompts load in well under a
second.

Expansion is the cartesian product of templates and slot values; the same
suite always gives the same item ids. ``load_suite("NAME?key=a,b&key2=c")``
selects items by attribute value, for example ``i2p?categories=sexual&hard=1``.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import string
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs

from audit.core.errors import ConfigError
from audit.core.records import ProbeItem, stable_hash
from audit.core.schema import load_yaml, parse


@dataclasses.dataclass(frozen=True)
class SlotValue:
    """One value a slot takes, with the attributes and reference shares it brings.

    ``value`` is the attribute recorded on the item; ``text`` (default: the
    value) is what the prompt shows, so "an accountant" can read well while
    the attribute stays "accountant".
    """

    value: str
    text: str | None = None
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def prompt_text(self) -> str:
        return self.value if self.text is None else self.text


@dataclasses.dataclass(frozen=True)
class Screening:
    """How the input screen treats this suite's prompts.

    ``block``: a flagged prompt is not generated. ``record``: it is generated
    and the verdict is recorded, for suites whose purpose is to measure what
    unsafe prompts produce (I2P). ``categories``: which screening categories
    apply (default: all). ``unscreened``: what becomes of a prompt the screen
    cannot read (a language or script it has no word lists for, or whose
    language cannot be told): ``block`` (not generated) or ``report``
    (generated, recorded as ``not_screened``); default ``block`` in a suite
    screened with ``block``, ``report`` in one that records.
    """

    mode: Literal["block", "record"] = "block"
    categories: list[str] | None = None
    unscreened: Literal["block", "report"] | None = None

    @property
    def unscreened_policy(self) -> str:
        """``block`` or ``report``: the ``unscreened`` setting, or the default for the mode."""
        return self.unscreened or ("block" if self.mode == "block" else "report")


@dataclasses.dataclass(frozen=True)
class RowSource:
    """Prompts read from a CSV file, one per row; column names map to item fields."""

    file: str  # relative to the suite YAML
    prompt: str  # the column holding the prompt
    seed: str | None = None  # a column holding the row's own seed (replaces the suite's seeds)
    attributes: dict[str, str] = dataclasses.field(default_factory=dict)  # attribute -> column
    reference: dict[str, str] = dataclasses.field(default_factory=dict)  # reference key -> column
    list_columns: list[str] = dataclasses.field(default_factory=list)  # "a, b" cells become ["a", "b"]


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named set of prompt templates and slot values (or CSV rows), and how to run them."""

    name: str
    templates: list[str] = dataclasses.field(default_factory=list)
    slots: dict[str, list[str | SlotValue]] = dataclasses.field(default_factory=dict)
    description: str = ""
    about: list[str] = dataclasses.field(default_factory=list)
    seeds: int | list[int] = 1
    negative_prompt: str | None = None
    reference: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference_source: dict[str, Any] = dataclasses.field(default_factory=dict)
    pair_over: str | None = None
    screening: Screening = dataclasses.field(default_factory=Screening)
    select: dict[str, list[Any]] = dataclasses.field(default_factory=dict)
    rows: RowSource | None = None

    def __post_init__(self) -> None:
        if self.rows is None and not self.templates:
            raise ValueError("templates: a suite needs at least one template (or rows)")
        if self.rows is not None and self.templates:
            raise ValueError("templates: a suite has either templates or rows, not both")
        for template in self.templates:
            missing = set(_slots_used(template)) - set(self.slots)
            if missing:
                raise ValueError(
                    f"templates: template {template!r} uses slot(s) "
                    f"{', '.join(sorted(missing))} that 'slots' does not define"
                )
        for slot, values in self.slots.items():
            if not values:
                raise ValueError(f"slots.{slot}: a slot needs at least one value")
            texts = [_as_slot_value(v).value for v in values]
            if len(set(texts)) != len(texts):
                duplicate = next(t for t in texts if texts.count(t) > 1)
                raise ValueError(f"slots.{slot}: value {duplicate!r} appears twice")
        if self.pair_over is not None and self.pair_over not in self.slots:
            raise ValueError(f"pair_over: {self.pair_over!r} is not one of the slots ({', '.join(self.slots)})")
        resolve_seeds(self.seeds)

    def default_seeds(self) -> list[int]:
        return resolve_seeds(self.seeds)

    def expand(self) -> list[ProbeItem]:
        """All prompts as ProbeItems, in a stable order, filtered by ``select``."""
        items = self._expand_rows() if self.rows is not None else self._expand_templates()
        if self.select:
            items = [item for item in items if _selected(item, self.select)]
        return items

    def _expand_templates(self) -> list[ProbeItem]:
        items = []
        for template in self.templates:
            used = _slots_used(template)
            choices = [[_as_slot_value(v) for v in self.slots[name]] for name in used]
            for combo in itertools.product(*choices):
                attributes: dict[str, Any] = {}
                reference: dict[str, Any] = {}
                for name, value in zip(used, combo, strict=True):
                    attributes[name] = value.value
                    attributes.update(value.attributes)
                    reference.update(value.reference)
                prompt = template.format(**{n: v.prompt_text for n, v in zip(used, combo, strict=True)})
                group = pair_id = None
                if self.pair_over in used:
                    # The pair is everything but the paired slot: same template, same other values.
                    group = attributes[self.pair_over]
                    others = {n: v.value for n, v in zip(used, combo, strict=True) if n != self.pair_over}
                    pair_id = stable_hash({"suite": self.name, "template": template, "slots": others})
                items.append(
                    ProbeItem.create(
                        suite=self.name,
                        prompt=prompt,
                        attributes=attributes,
                        negative_prompt=self.negative_prompt,
                        template=template,
                        reference=self._reference(reference),
                        group=group,
                        pair_id=pair_id,
                    )
                )
        return items

    def _expand_rows(self) -> list[ProbeItem]:
        rows = self.rows
        assert rows is not None
        items = []
        with open(rows.file, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                attributes = {name: _cell(row[col], col in rows.list_columns) for name, col in rows.attributes.items()}
                reference = {name: _cell(row[col], col in rows.list_columns) for name, col in rows.reference.items()}
                seeds = (int(row[rows.seed]),) if rows.seed else None
                items.append(
                    ProbeItem.create(
                        suite=self.name,
                        prompt=row[rows.prompt],
                        attributes=attributes,
                        negative_prompt=self.negative_prompt,
                        reference=self._reference(reference),
                        seeds=seeds,
                    )
                )
        return items

    def _reference(self, figures: dict[str, Any]) -> dict[str, Any]:
        """The suite's reference, plus the figures a value brings and (then) where they come from."""
        if not figures:
            return dict(self.reference)
        return {**self.reference, **self.reference_source, **figures}

    def check_rows(self, source: str) -> None:
        """Fail naming the suite file if the CSV is missing or lacks a named column."""
        rows = self.rows
        if rows is None:
            return
        try:
            with open(rows.file, encoding="utf-8", newline="") as handle:
                header = next(csv.reader(handle), [])
        except OSError as exc:
            raise ConfigError(f"{source}: rows.file: cannot read {rows.file} ({exc.strerror})") from None
        named = {
            "rows.prompt": [rows.prompt],
            "rows.seed": [rows.seed] if rows.seed else [],
            "rows.attributes": list(rows.attributes.values()),
            "rows.reference": list(rows.reference.values()),
            "rows.list_columns": list(rows.list_columns),
        }
        for key, columns in named.items():
            for column in columns:
                if column not in header:
                    raise ConfigError(f"{source}: {key}: column {column!r} is not in {Path(rows.file).name}")

    def attribute_names(self) -> set[str]:
        """The attributes items of this suite carry (what ``select`` may name)."""
        if self.rows is not None:
            return set(self.rows.attributes)
        names = set(self.slots)
        for values in self.slots.values():
            for value in values:
                names.update(_as_slot_value(value).attributes)
        return names


def _slots_used(template: str) -> list[str]:
    used = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    return list(dict.fromkeys(used))


def _as_slot_value(value: str | SlotValue) -> SlotValue:
    return value if isinstance(value, SlotValue) else SlotValue(value=value)


def _cell(text: str, is_list: bool) -> Any:
    """A CSV cell as the JSON value it stands for: list, int, float, None or string."""
    if is_list:
        return [part.strip() for part in text.split(",") if part.strip()]
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _selected(item: ProbeItem, select: dict[str, list[Any]]) -> bool:
    for name, wanted in select.items():
        value = item.attributes.get(name)
        have = value if isinstance(value, list) else [value]
        if not {str(v) for v in have} & {str(w) for w in wanted}:
            return False
    return True


# Seeds per prompt beyond any audit (the largest suite default is a few hundred): a typo, refused before the
# list of seeds fills the memory.
MAX_SEEDS = 1_000_000


def resolve_seeds(seeds: int | list[int]) -> list[int]:
    """``n`` means seeds 0..n-1; a list is taken as given."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        if seeds > MAX_SEEDS:
            raise ValueError(f"seeds must be at most {MAX_SEEDS:,} per prompt, got {seeds:,}")
        return list(range(seeds))
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be distinct non-negative integers, got {seeds}")
    return list(seeds)


# The order `diffaudit suites list` shows: smallest first, then as the docs describe them.
_BUILTIN_ORDER = (
    "demo",
    "sandbox",
    "occupations",
    "identities",
    "traits",
    "counterfactual",
    "safety",
    "i2p",
    "unconditional",
)


def builtin_suites() -> dict[str, Path]:
    """Built-in suite names and the package files that define them."""
    folder = resources.files("probes") / "suites"
    found = {Path(e.name).stem: Path(str(e)) for e in folder.iterdir() if e.name.endswith(".yaml")}
    rank = {name: i for i, name in enumerate(_BUILTIN_ORDER)}
    return {name: found[name] for name in sorted(found, key=lambda n: (rank.get(n, len(rank)), n))}


def parse_selection(spec: str) -> tuple[str, dict[str, list[str]]]:
    """Split ``"NAME?key=a,b&key2=c"`` into the name and ``{key: [a, b], key2: [c]}``."""
    name, _, query = str(spec).partition("?")
    select: dict[str, list[str]] = {}
    if query:
        parsed = parse_qs(query, keep_blank_values=True, strict_parsing=False)
        if not parsed:
            raise ConfigError(f"suite {spec!r}: expected NAME?attribute=value[,value...][&...] after '?'")
        for key, values in parsed.items():
            select[key] = [v.strip() for value in values for v in value.split(",") if v.strip()]
            if not select[key]:
                raise ConfigError(f"suite {spec!r}: selection {key!r} has no value")
    return name, select


def load_suite(name_or_path: str | Path, select: dict[str, Iterable[Any]] | None = None) -> Suite:
    """A built-in suite by name, or a user's suite YAML by path, optionally selecting items.

    ``select`` (or a ``?key=value`` suffix on the name) keeps the items whose
    attribute ``key`` takes one of the values; a list attribute matches when
    any element does.
    """
    spec = str(name_or_path)
    name, suffix = parse_selection(spec)
    builtins = builtin_suites()
    if name in builtins:
        path = builtins[name]
    else:
        path = Path(name)
        if not path.exists():
            known = ", ".join(sorted(builtins))
            raise ConfigError(f"suite {name!r} is neither a built-in suite ({known}) nor a file")
    source = str(path)
    suite = parse(Suite, load_yaml(path), source=source)
    if suite.rows is not None:
        # A CSV named by the suite lives next to it (never a path built from a prompt).
        suite = dataclasses.replace(
            suite, rows=dataclasses.replace(suite.rows, file=str(path.parent / suite.rows.file))
        )
        suite.check_rows(source)
    wanted = {**suite.select, **suffix, **{k: list(v) for k, v in (select or {}).items()}}
    if wanted:
        known = suite.attribute_names()
        for key in wanted:
            if key not in known:
                raise ConfigError(
                    f"{source}: select: {key!r} is not an attribute of suite {suite.name!r} "
                    f"(attributes: {', '.join(sorted(known))})"
                )
        suite = dataclasses.replace(suite, select=wanted)
    return suite
