"""Generators: anything that turns a ProbeItem and a seed into an image."""

from generators.base import Generator, GeneratorParams
from generators.diffusers_pipeline import DiffusersGenerator, DiffusersParams
from generators.registry import available, generator_class, register
from generators.tiny_pipeline import BUILTIN_NAME, build_tiny_sd

__all__ = [
    "BUILTIN_NAME",
    "DiffusersGenerator",
    "DiffusersParams",
    "Generator",
    "GeneratorParams",
    "available",
    "build_tiny_sd",
    "generator_class",
    "register",
]
