"""Generators by their short config name (``diffusers``, ``ddpm``, ``folder``, ...).

Installed packages add generator types through the ``diffaudit.generators`` entry-point group.
"""

from __future__ import annotations

from audit.core.registry import Registry
from generators.base import Generator

GENERATORS: Registry[type[Generator]] = Registry("generator", entry_point_group="diffaudit.generators")

register = GENERATORS.register
generator_class = GENERATORS.get
available = GENERATORS.available
