"""The run configs that ship with diffaudit (``audit/configs/*.yaml``), by name; light enough for ``--help``."""

from __future__ import annotations

from importlib import resources

DEFAULT = "default"


def builtin_configs() -> list[str]:
    """The names of the run configs that ship with diffaudit (``default``, ``sandbox-high-guidance``, ...)."""
    folder = resources.files("audit") / "configs"
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def builtin_config_text(name: str) -> str:
    """The YAML text of the built-in config ``name``."""
    return (resources.files("audit") / "configs" / f"{name}.yaml").read_text(encoding="utf-8")
