"""Plugins by their short config name: one registry class for generators and classifiers alike."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes registered under their ``type_name`` (``diffusers``, ``clip``, ...).

    ``kind`` names what is registered in error messages ("generator type
    'x' is registered twice", "unknown classifier type 'y'; available: ...").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """Class decorator: make ``cls`` available under ``cls.type_name``."""
        name = cls.type_name
        if name in self._classes and self._classes[name] is not cls:
            raise ValueError(f"{self.kind} type {name!r} is registered twice")
        self._classes[name] = cls
        return cls

    def get(self, type_name: str) -> T:
        """The class registered as ``type_name``; KeyError lists the known names."""
        try:
            return self._classes[type_name]
        except KeyError:
            known = ", ".join(self.available())
            raise KeyError(f"unknown {self.kind} type {type_name!r}; available: {known}") from None

    def available(self) -> list[str]:
        return sorted(self._classes)
