"""Plugins by their short config name: one registry class for generators and classifiers alike.

Other packages add plugins through a package entry-point group, as pytest plugins do: a
distribution that declares, in its ``pyproject.toml``,

    [project.entry-points."diffaudit.generators"]
    my-gan = "my_package.audit:MyGanGenerator"

makes ``generator: {type: my-gan}`` work once it is installed. An entry point is loaded
only when its name is asked for, so a broken plugin stops only the runs that use it.
"""

from __future__ import annotations

from importlib import metadata
from typing import Generic, TypeVar

from audit.core.errors import DiffauditError

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes registered under their ``type_name`` (``diffusers``, ``clip``, ...).

    ``kind`` names what is registered in error messages ("generator type
    'x' is registered twice", "unknown classifier type 'y'; available: ...").
    ``entry_point_group`` (for example ``diffaudit.generators``) is where
    installed distributions declare more classes, by their ``type_name``.
    """

    def __init__(self, kind: str, *, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._classes: dict[str, T] = {}

    def register(self, cls: T) -> T:
        """Class decorator: make ``cls`` available under ``cls.type_name``."""
        name = cls.type_name
        if name in self._classes and self._classes[name] is not cls:
            raise ValueError(f"{self.kind} type {name!r} is registered twice")
        self._classes[name] = cls
        return cls

    def get(self, type_name: str) -> T:
        """The class registered as ``type_name`` (loading its entry point if a plugin declares it).

        KeyError lists the known names; DiffauditError names a plugin that fails to load.
        """
        if type_name not in self._classes:
            entry = self._entry_points().get(type_name)
            if entry is not None:
                return self._load_plugin(type_name, entry)
            known = ", ".join(self.available())
            raise KeyError(f"unknown {self.kind} type {type_name!r}; available: {known}") from None
        return self._classes[type_name]

    def available(self) -> list[str]:
        """Every name: the registered classes and the plugins installed distributions declare."""
        return sorted(set(self._classes) | set(self._entry_points()))

    def _entry_points(self) -> dict[str, metadata.EntryPoint]:
        if self.entry_point_group is None:
            return {}
        return {entry.name: entry for entry in metadata.entry_points(group=self.entry_point_group)}

    def _load_plugin(self, name: str, entry: metadata.EntryPoint) -> T:
        where = f"{self.kind} plugin {name!r} ({_describe(entry)}, entry-point group {self.entry_point_group})"
        try:
            cls = entry.load()
        except Exception as exc:  # noqa: BLE001 — any import error of someone else's package is one line
            raise DiffauditError(f"{where} failed to load: {type(exc).__name__}: {exc}") from exc
        if not isinstance(cls, type) or getattr(cls, "type_name", None) != name:
            raise DiffauditError(
                f"{where} must name a {self.kind} class whose type_name is {name!r}, got {cls!r}"
            )
        if self._classes.get(name) is not cls:  # importing the plugin may have registered it already
            self.register(cls)
        return cls


def _describe(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    source = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"{entry.value}{source}"
