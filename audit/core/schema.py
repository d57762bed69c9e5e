"""Typed dataclasses from YAML mappings, with errors that name the file, the key and the value.

``parse(cls, data, source=...)`` walks the dataclass's type hints (str, int,
float, bool, Literal, unions, list, tuple, dict, nested dataclasses, Any) and
raises :class:`ConfigError` at the first problem — unknown key, missing key or
wrong type — so a bad file is one line, never a traceback.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml

from audit.core.errors import ConfigError
from audit.core.text_files import read_text

T = TypeVar("T")


# libyaml's safe loader where PyYAML was built with it (about ten times faster), else PyYAML's own.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: str | Path) -> Any:
    """Read a YAML file, turning I/O and syntax problems into one-line ConfigErrors."""
    path = Path(path)
    return parse_yaml(read_text(path), path)


def parse_yaml(text: str, source: str | Path) -> Any:
    """YAML text as data; a syntax error, or nesting too deep to read, is a one-line ConfigError naming ``source``."""
    path = source
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None


def parse(cls: type[T], data: Any, *, source: str, key: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; ``source`` (a file name) and ``key`` locate errors."""
    return _convert(cls, data, source, key)


def describe(tp: Any) -> str:
    """A short human name for a type hint, as shown in error messages."""
    origin = get_origin(tp)
    if tp is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(describe(a) for a in get_args(tp))
    if origin in (list, tuple):
        return f"a list of {describe(get_args(tp)[0])}"
    if origin is dict or tp is dict:
        return "a mapping"
    if tp is type(None):
        return "null"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _fail(source: str, key: str, message: str, value: Any) -> ConfigError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return ConfigError(f"{source}: {key or '(top level)'}: {message}, got {shown}")


def _convert(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        return _convert_dataclass(tp, value, source, key)
    if origin is Literal:
        if value not in get_args(tp):
            raise _fail(source, key, f"expected {describe(tp)}", value)
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise _fail(source, key, f"expected {describe(tp)}", value)
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, source, key)
            except ConfigError as exc:
                errors.append(exc)
        real = [option for option in options if option is not type(None)]
        if len(errors) == 1 and dataclasses.is_dataclass(real[0]) and isinstance(value, dict):
            raise errors[0]  # a mapping for the one structured option: its own message says what is wrong
        # One option failed deep inside a mapping: that message is the useful one.
        deep = [e for e in errors if f"{key}." in str(e) or f"{key}[" in str(e)]
        if len(deep) == 1:
            raise deep[0]
        raise _fail(source, key, f"expected {describe(tp)}", value)
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise _fail(source, key, f"expected {describe(tp)}", value)
        item_type = get_args(tp)[0]
        items = [_convert(item_type, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _fail(source, key, "expected a mapping", value)
        value_type = get_args(tp)[1] if get_args(tp) else Any
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _fail(source, key, "expected string keys", k)
            out[k] = _convert(value_type, v, source, _join(key, k))
        return out
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source, key, "expected true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, key, "expected an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source, key, "expected a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(source, key, "expected a string", value)
        return value
    raise TypeError(f"schema: unsupported type hint {tp!r} for {key}")


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _convert_dataclass(cls: Any, value: Any, source: str, key: str) -> Any:
    if not isinstance(value, dict):
        raise _fail(source, key, "expected a mapping", value)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for name in value:
        if name not in fields:
            allowed = ", ".join(sorted(fields))
            raise ConfigError(
                f"{source}: unknown key '{_join(key, str(name))}' (value {value[name]!r}); allowed keys: {allowed}"
            )
    kwargs = {}
    for name, field in fields.items():
        if name in value:
            kwargs[name] = _convert(hints[name], value[name], source, _join(key, name))
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{source}: missing required key '{_join(key, name)}'")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as exc:
        # __post_init__ checks (ranges, consistency) report through the same one-line form.
        raise ConfigError(f"{source}: {key or '(top level)'}: {exc}") from None
