"""Label sets: the attributes a CLIP zero-shot classifier reports, as data users can replace.

A label set is a YAML file (see ``label_sets/default.yaml``): per attribute,
its classes (label → the class name put into the templates), its prompt
templates, the probability below which it abstains, and whether it needs a
person in the image. Built-in sets are named by file stem; anything else is a path.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

from audit.core.constants import UNKNOWN
from audit.core.errors import ConfigError
from audit.core.schema import load_yaml, parse


@dataclasses.dataclass(frozen=True)
class AttributeSpec:
    """One attribute: classes × templates, ensembled the open_clip way."""

    classes: dict[str, str]
    templates: list[str]
    threshold: float = 0.0
    requires_person: bool = False

    def __post_init__(self) -> None:
        if len(self.classes) < 2:
            raise ValueError("classes: at least two classes are needed")
        if UNKNOWN in self.classes:
            raise ValueError(f"classes: {UNKNOWN!r} is added by the classifier, do not list it")
        if not self.templates:
            raise ValueError("templates: at least one template is needed")
        for template in self.templates:
            if template.count("{}") != 1:
                raise ValueError(f"templates: each template needs exactly one '{{}}', got {template!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold: must lie in [0, 1], got {self.threshold}")

    @property
    def labels(self) -> list[str]:
        return list(self.classes)

    @property
    def classnames(self) -> list[str]:
        return list(self.classes.values())


@dataclasses.dataclass(frozen=True)
class LabelSet:
    """Attributes by name; ``person_attribute`` (if set) gates those with ``requires_person``."""

    name: str
    attributes: dict[str, AttributeSpec]
    person_attribute: str | None = None
    person_label: str = "yes"

    def __post_init__(self) -> None:
        if not self.attributes:
            raise ValueError("attributes: at least one attribute is needed")
        gated = [name for name, spec in self.attributes.items() if spec.requires_person]
        if gated and self.person_attribute is None:
            raise ValueError(f"person_attribute: needed because {', '.join(gated)} require a person")
        if self.person_attribute is not None:
            spec = self.attributes.get(self.person_attribute)
            if spec is None:
                raise ValueError(f"person_attribute: {self.person_attribute!r} is not one of the attributes")
            if spec.requires_person:
                raise ValueError("person_attribute: the person attribute cannot itself require a person")
            if self.person_label not in spec.classes:
                raise ValueError(f"person_label: {self.person_label!r} is not a class of {self.person_attribute}")


def builtin_label_sets() -> list[str]:
    folder = resources.files("audit.classifiers") / "label_sets"
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_label_set(name_or_path: str) -> LabelSet:
    """A built-in label set by name, or a label-set YAML by path; errors name the file and key."""
    if name_or_path in builtin_label_sets():
        resource = resources.files("audit.classifiers") / "label_sets" / f"{name_or_path}.yaml"
        import yaml

        data, source = yaml.safe_load(resource.read_text(encoding="utf-8")), f"label set {name_or_path}"
    else:
        path = Path(name_or_path)
        if not path.is_file():
            known = ", ".join(builtin_label_sets())
            raise ConfigError(f"{path}: label set not found (built-in label sets: {known})")
        data, source = load_yaml(path), str(path)
    return parse(LabelSet, data, source=source)
