"""The run config: one YAML file describing a run, validated on load.

An unknown key, a wrong type or a missing field raises :class:`ConfigError`
naming the file, the key and the value. Generator parameters are checked
against the ``Params`` dataclass the named generator declares.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from audit.core.errors import ConfigError
from audit.core.schema import load_yaml, parse
from probes.suite import Screening

DEFAULT_CONFIG = "default.yaml"


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
    """Which generator makes the images, and its parameters (all defaults filled in)."""

    type: str
    params: Any  # the generator's own Params dataclass

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **dataclasses.asdict(self.params)}


@dataclasses.dataclass(frozen=True)
class ProbeSpec:
    """A suite to run (built-in name or path), its seeds (count or list), and how to screen it.

    ``screening`` replaces the suite's own (``{mode: block|record, categories: [...]}``).
    """

    suite: str
    seeds: int | list[int] | None = None
    screening: Screening | None = None


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
    """A classifier to score images with, and its parameters."""

    type: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params}


@dataclasses.dataclass(frozen=True)
class _ConfigFile:
    """The shape of the YAML file, before the generator's own parameters are checked."""

    name: str
    generator: dict[str, Any]
    probes: list[ProbeSpec]
    classifiers: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    policy: str = "default"
    executor: Literal["local", "ray"] = "local"
    output: str = "runs"

    def __post_init__(self) -> None:
        if not self.probes:
            raise ValueError("probes: at least one suite is needed")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name: must be a plain directory name, got {self.name!r}")
        if self.executor == "ray":
            # Named in the config's shape, but not built: say so rather than run locally in silence.
            raise ValueError("executor: 'ray' is not available in this version; every stage runs locally (local)")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A validated run config; :meth:`as_dict` is the resolved form written to run.yaml."""

    name: str
    generator: GeneratorSpec
    probes: list[ProbeSpec]
    classifiers: list[ClassifierSpec]
    policy: str
    executor: str
    output: str
    source: str = "(built-in default)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "generator": self.generator.as_dict(),
            "probes": [dataclasses.asdict(p) for p in self.probes],
            "classifiers": [c.as_dict() for c in self.classifiers],
            "policy": self.policy,
            "executor": self.executor,
            "output": self.output,
        }


def config_from_dict(data: Any, *, source: str) -> RunConfig:
    """Validate a config mapping (as read from YAML); ``source`` names it in errors."""
    from audit.classifiers import classifier_class
    from generators.registry import generator_class

    shape = parse(_ConfigFile, data, source=source)
    generator = dict(shape.generator)
    type_name = generator.pop("type", None)
    if type_name is None:
        raise ConfigError(f"{source}: missing required key 'generator.type'")
    try:
        cls = generator_class(type_name)
    except KeyError as exc:
        raise ConfigError(f"{source}: generator.type: {exc.args[0]}") from None
    params = parse(cls.Params, generator, source=source, key="generator")
    classifiers = []
    for i, entry in enumerate(shape.classifiers):
        entry = dict(entry)
        kind = entry.pop("type", None)
        if not isinstance(kind, str):
            raise ConfigError(f"{source}: classifiers[{i}].type: expected a string, got {kind!r}")
        try:
            classifier_cls = classifier_class(kind)
        except KeyError as exc:
            raise ConfigError(f"{source}: classifiers[{i}].type: {exc.args[0]}") from None
        # Checked against the classifier's declared Params; run.yaml records them with defaults filled in.
        classifier_params = parse(classifier_cls.Params, entry, source=source, key=f"classifiers[{i}]")
        classifiers.append(ClassifierSpec(type=kind, params=dataclasses.asdict(classifier_params)))
    return RunConfig(
        name=shape.name,
        generator=GeneratorSpec(type=type_name, params=params),
        probes=shape.probes,
        classifiers=classifiers,
        policy=shape.policy,
        executor=shape.executor,
        output=shape.output,
        source=source,
    )


def builtin_configs() -> list[str]:
    """The names of the run configs that ship with diffaudit (``default``, ``sandbox-high-guidance``, ...)."""
    folder = resources.files("audit") / "configs"
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_config(path: str | Path | None = None) -> RunConfig:
    """The config in ``path``, the built-in config of that name, or the built-in default when ``path`` is None."""
    if path is None or (not Path(path).exists() and str(path) in builtin_configs()):
        name = DEFAULT_CONFIG if path is None else f"{path}.yaml"
        text = (resources.files("audit") / "configs" / name).read_text(encoding="utf-8")
        import yaml

        source = "(built-in default)" if path is None else f"(built-in config {path})"
        return config_from_dict(yaml.safe_load(text), source=source)
    data = load_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    return config_from_dict(data, source=str(path))
