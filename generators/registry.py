"""Generators by their short config name (``diffusers``, ``ddpm``, ``folder``, ...)."""

from __future__ import annotations

from audit.core.registry import Registry
from generators.base import Generator

GENERATORS: Registry[type[Generator]] = Registry("generator")

register = GENERATORS.register
generator_class = GENERATORS.get
available = GENERATORS.available
