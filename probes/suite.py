"""Prompt suites as data: templates with slots, expanded into ProbeItems.

A suite is a YAML file::

    name: demo
    description: two prompts to show the pipeline end to end
    about: [occupation]            # attributes the suite is about
    seeds: 2                       # seeds per prompt (0..n-1) or a list
    negative_prompt: null
    templates:
      - "a photo of the face of a {occupation}"
    slots:
      occupation:
        - doctor                   # a plain value ...
        - value: nurse             # ... or a value with attributes and reference shares
          attributes: {field: health}
          reference: {pct_women: 87.9}

Expansion is the cartesian product of templates and slot values; the same
suite always gives the same item ids.
"""

from __future__ import annotations

import dataclasses
import itertools
import string
from importlib import resources
from pathlib import Path
from typing import Any

from audit.errors import ConfigError
from audit.records import ProbeItem
from audit.schema import load_yaml, parse


@dataclasses.dataclass(frozen=True)
class SlotValue:
    """One value a slot takes, with the attributes and reference shares it brings."""

    value: str
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    reference: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named set of prompt templates and slot values."""

    name: str
    templates: list[str]
    slots: dict[str, list[str | SlotValue]] = dataclasses.field(default_factory=dict)
    description: str = ""
    about: list[str] = dataclasses.field(default_factory=list)
    seeds: int | list[int] = 1
    negative_prompt: str | None = None

    def __post_init__(self) -> None:
        if not self.templates:
            raise ValueError("templates: a suite needs at least one template")
        for template in self.templates:
            used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
            missing = used - set(self.slots)
            if missing:
                raise ValueError(
                    f"templates: template {template!r} uses slot(s) "
                    f"{', '.join(sorted(missing))} that 'slots' does not define"
                )
        for slot, values in self.slots.items():
            if not values:
                raise ValueError(f"slots.{slot}: a slot needs at least one value")

    def default_seeds(self) -> list[int]:
        return resolve_seeds(self.seeds)

    def expand(self) -> list[ProbeItem]:
        """All (template × slot values) prompts as ProbeItems, in a stable order."""
        items = []
        for template in self.templates:
            used = [f for _, f, _, _ in string.Formatter().parse(template) if f]
            used = list(dict.fromkeys(used))
            choices = [[_as_slot_value(v) for v in self.slots[name]] for name in used]
            for combo in itertools.product(*choices):
                attributes: dict[str, Any] = {}
                reference: dict[str, Any] = {}
                for name, value in zip(used, combo, strict=True):
                    attributes[name] = value.value
                    attributes.update(value.attributes)
                    reference.update(value.reference)
                prompt = template.format(**{n: v.value for n, v in zip(used, combo, strict=True)})
                items.append(
                    ProbeItem.create(
                        suite=self.name,
                        prompt=prompt,
                        attributes=attributes,
                        negative_prompt=self.negative_prompt,
                        template=template,
                        reference=reference,
                    )
                )
        return items


def _as_slot_value(value: str | SlotValue) -> SlotValue:
    return value if isinstance(value, SlotValue) else SlotValue(value=value)


def resolve_seeds(seeds: int | list[int]) -> list[int]:
    """``n`` means seeds 0..n-1; a list is taken as given."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be at least 1, got {seeds}")
        return list(range(seeds))
    if len(set(seeds)) != len(seeds) or any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be distinct non-negative integers, got {seeds}")
    return list(seeds)


def builtin_suites() -> dict[str, Path]:
    """Built-in suite names and the package files that define them."""
    folder = resources.files("probes") / "suites"
    return {
        Path(entry.name).stem: Path(str(entry))
        for entry in sorted(folder.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    }


def load_suite(name_or_path: str | Path) -> Suite:
    """A built-in suite by name, or a user's suite YAML by path."""
    builtins = builtin_suites()
    if str(name_or_path) in builtins:
        path = builtins[str(name_or_path)]
    else:
        path = Path(name_or_path)
        if not path.exists():
            known = ", ".join(sorted(builtins))
            raise ConfigError(f"suite {str(name_or_path)!r} is neither a built-in suite ({known}) nor a file")
    return parse(Suite, load_yaml(path), source=str(path))
