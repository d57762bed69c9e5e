"""Generators by their short config name (``diffusers``, ``ddpm``, ``folder``, ...)."""

from __future__ import annotations

from generators.base import Generator

_REGISTRY: dict[str, type[Generator]] = {}


def register(cls: type[Generator]) -> type[Generator]:
    """Class decorator: make ``cls`` available under ``cls.type_name``."""
    if cls.type_name in _REGISTRY and _REGISTRY[cls.type_name] is not cls:
        raise ValueError(f"generator type {cls.type_name!r} is registered twice")
    _REGISTRY[cls.type_name] = cls
    return cls


def generator_class(type_name: str) -> type[Generator]:
    """The class registered as ``type_name``; KeyError lists the known names."""
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise KeyError(f"unknown generator type {type_name!r}; available: {', '.join(available())}") from None


def available() -> list[str]:
    return sorted(_REGISTRY)
