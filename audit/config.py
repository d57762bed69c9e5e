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

from audit.builtin_configs import DEFAULT, builtin_config_text, builtin_configs
from audit.core.errors import ConfigError
from audit.core.schema import load_yaml, parse
from audit.findings.sequential import SamplingDesign
from generators.mitigation import Mitigation
from probes.suite import Screening


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
    ``seed_blocks``: ``shared`` (every prompt uses the suite's seeds), ``per_template``
    (each template gets its own block of seeds, so the templates of an occupation do
    not share starting noise) or ``per_prompt`` (each prompt, or each counterfactual
    pair, its own block: no two groups share a seed). A block is the suite's seeds
    shifted by a multiple of (largest seed + 1).
    """

    suite: str
    seeds: int | list[int] | None = None
    screening: Screening | None = None
    seed_blocks: Literal["shared", "per_template", "per_prompt"] = "shared"


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
    """A classifier to score images with, its parameters, and the validation files attached to it.

    ``validation``: paths of ``diffaudit validate-classifier`` files for this
    classifier (one per validated attribute), absolute once loaded; reports
    show each attribute as validated or not, and the analysis uses them.
    """

    type: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    validation: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.params, **({"validation": list(self.validation)} if self.validation else {})}


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
    mitigation: dict[str, Any] | None = None
    sampling: SamplingDesign = dataclasses.field(default_factory=SamplingDesign)

    def __post_init__(self) -> None:
        if not self.probes:
            raise ValueError("probes: at least one suite is needed")
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ValueError(f"name: must be a plain directory name, got {self.name!r}")


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
    mitigation: Mitigation | None = None
    sampling: SamplingDesign = dataclasses.field(default_factory=SamplingDesign)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "name": self.name,
            "generator": self.generator.as_dict(),
            "probes": [dataclasses.asdict(p) for p in self.probes],
            "classifiers": [c.as_dict() for c in self.classifiers],
            "policy": self.policy,
            "executor": self.executor,
            "output": self.output,
        }
        if self.mitigation is not None:  # absent, not null, so runs without one resume as before
            out["mitigation"] = dataclasses.asdict(self.mitigation)
        if self.sampling.sequential:  # absent for the fixed design, so earlier runs resume as before
            out["sampling"] = self.sampling.as_dict()
        return out

    def generator_params(self) -> Any:
        """The parameters the generator runs with: the config's, with the mitigation's guidance and pipeline."""
        params = self.generator.params
        return self.mitigation.apply_params(params) if self.mitigation is not None else params


def config_from_dict(data: Any, *, source: str) -> RunConfig:
    """Validate a config mapping (as read from YAML); ``source`` names it in errors."""
    from audit.classifiers import classifier_class
    from generators.registry import generator_class

    shape = parse(_ConfigFile, data, source=source)
    mitigation = None
    if shape.mitigation is not None:
        mitigation = parse(Mitigation, shape.mitigation, source=source, key="mitigation")
    generator = dict(shape.generator)
    type_name = generator.pop("type", None)
    if type_name is None:
        raise ConfigError(f"{source}: missing required key 'generator.type'")
    if not isinstance(type_name, str):
        raise ConfigError(f"{source}: generator.type: expected a string, got {type_name!r}")
    try:
        cls = generator_class(type_name)
    except KeyError as exc:
        raise ConfigError(f"{source}: generator.type: {exc.args[0]}") from None
    params = parse(cls.Params, generator, source=source, key="generator")
    if mitigation is not None:
        _check_mitigation(mitigation, cls, params, source)
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
        validation = _validation_paths(entry.pop("validation", None), source=source, key=f"classifiers[{i}].validation")
        # Checked against the classifier's declared Params; run.yaml records them with defaults filled in.
        classifier_params = parse(classifier_cls.Params, entry, source=source, key=f"classifiers[{i}]")
        if validation:
            _check_validation(classifier_cls, classifier_params, validation, source=source, index=i)
        classifiers.append(
            ClassifierSpec(type=kind, params=dataclasses.asdict(classifier_params), validation=validation)
        )
    return RunConfig(
        name=shape.name,
        generator=GeneratorSpec(type=type_name, params=params),
        probes=shape.probes,
        classifiers=classifiers,
        policy=shape.policy,
        executor=shape.executor,
        output=shape.output,
        source=source,
        mitigation=mitigation,
        sampling=shape.sampling,
    )


def _check_mitigation(mitigation: Mitigation, generator_cls: Any, params: Any, source: str) -> None:
    """Refuse a mitigation the generator cannot carry out, naming the key."""
    if mitigation.changes_prompts and not generator_cls.reads_prompt:
        key = "mitigation.rewrite" if mitigation.rewrite is not None else "mitigation.negative_prompt"
        raise ConfigError(
            f"{source}: {key}: generator type {generator_cls.type_name!r} does not read prompts, "
            "so rewriting them would change nothing; use guidance (or a text-to-image generator)"
        )
    try:
        mitigation.apply_params(params)
    except ValueError as exc:
        raise ConfigError(f"{source}: mitigation.{exc}") from None


BUILTIN_VALIDATION = "builtin:"


def builtin_validations() -> dict[str, Path]:
    """The validation files shipped with the package (measured on public photographs; see PROVENANCE.md), by name."""
    folder = Path(str(resources.files("audit.classifiers") / "data" / "validation"))
    return {path.stem: path for path in sorted(folder.glob("*.json"))}


def _validation_paths(value: Any, *, source: str, key: str) -> tuple[str, ...]:
    """Validation file paths (one or a list), relative to the config file's folder, made absolute.

    ``builtin:NAME`` names a validation file shipped with the package.
    """
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ConfigError(f"{source}: {key}: expected a validation file path or a list of them, got {value!r}")
    base = Path(source).parent if Path(source).is_file() else Path.cwd()
    paths = []
    for text in values:
        if text.startswith(BUILTIN_VALIDATION):
            shipped = builtin_validations()
            name = text[len(BUILTIN_VALIDATION) :]
            if name not in shipped:
                raise ConfigError(
                    f"{source}: {key}: no built-in validation {name!r}; built-in: {', '.join(shipped) or 'none'}"
                )
            paths.append(str(shipped[name]))
            continue
        path = Path(text).expanduser()
        path = path if path.is_absolute() else (base / path)
        if not path.is_file():
            raise ConfigError(f"{source}: {key}: no such validation file {text!r}")
        paths.append(str(path.resolve()))
    return tuple(paths)


def _check_validation(cls: Any, params: Any, paths: tuple[str, ...], *, source: str, index: int) -> None:
    """Each attached file must be a validation summary of this very classifier (same id)."""
    from audit.findings.analysis import load_validation

    classifier_id = cls(params).classifier_id
    for path in paths:
        try:
            (validated_id, attribute), *_ = load_validation([path])
        except ConfigError as exc:
            raise ConfigError(f"{source}: classifiers[{index}].validation: {exc}") from None
        if validated_id != classifier_id:
            raise ConfigError(
                f"{source}: classifiers[{index}].validation: {path} validates {validated_id!r} "
                f"({attribute}), but this classifier is {classifier_id!r}"
            )


def load_config(path: str | Path | None = None) -> RunConfig:
    """The config in ``path``, the built-in config of that name, or the built-in default when ``path`` is None."""
    if path is None or (not Path(path).exists() and str(path) in builtin_configs()):
        import yaml

        source = "(built-in default)" if path is None else f"(built-in config {path})"
        return config_from_dict(
            yaml.safe_load(builtin_config_text(DEFAULT if path is None else str(path))), source=source
        )
    if not Path(path).exists():
        raise ConfigError(
            f"{path}: file not found, nor a built-in config of that name (built-in: {', '.join(builtin_configs())}; "
            "`diffaudit configs` describes them)"
        )
    data = load_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    return config_from_dict(data, source=str(path))
