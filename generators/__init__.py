"""Generators: anything that turns a ProbeItem and a seed into an image."""

from generators.base import GeneratedImage, Generator, GeneratorParams
from generators.ddpm_generator import DDPMGenerator, DDPMParams
from generators.diffusers_pipeline import DiffusersGenerator, DiffusersParams
from generators.folder import FolderGenerator, FolderParams, read_manifest
from generators.python_model import PythonModelGenerator, PythonModelParams
from generators.registry import GENERATORS, available, generator_class, register
from generators.sandbox import SandboxGenerator, SandboxParams
from generators.tiny_pipeline import BUILTIN_NAME, build_tiny_sd

__all__ = [
    "BUILTIN_NAME",
    "GENERATORS",
    "DDPMGenerator",
    "DDPMParams",
    "DiffusersGenerator",
    "DiffusersParams",
    "FolderGenerator",
    "FolderParams",
    "GeneratedImage",
    "Generator",
    "GeneratorParams",
    "PythonModelGenerator",
    "PythonModelParams",
    "SandboxGenerator",
    "SandboxParams",
    "available",
    "build_tiny_sd",
    "generator_class",
    "read_manifest",
    "register",
]
