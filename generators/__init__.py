"""Generators: anything that turns a ProbeItem and a seed into an image."""

from generators.base import GeneratedImage, Generator, GeneratorParams
from generators.ddpm_generator import DDPMGenerator, DDPMParams
from generators.diffusers_pipeline import DiffusersGenerator, DiffusersParams
from generators.folder import FolderGenerator, FolderParams, read_manifest
from generators.registry import available, generator_class, register
from generators.tiny_pipeline import BUILTIN_NAME, add_tiny_safety_checker, build_tiny_sd, build_tiny_sdxl

__all__ = [
    "BUILTIN_NAME",
    "DDPMGenerator",
    "DDPMParams",
    "DiffusersGenerator",
    "DiffusersParams",
    "FolderGenerator",
    "FolderParams",
    "GeneratedImage",
    "Generator",
    "GeneratorParams",
    "add_tiny_safety_checker",
    "available",
    "build_tiny_sd",
    "build_tiny_sdxl",
    "generator_class",
    "read_manifest",
    "register",
]
