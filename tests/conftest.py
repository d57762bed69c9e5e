"""Shared fixtures. Tests never touch the network: the hub is offline for the whole session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Two workers on two cores: one torch (OpenMP) thread each, set before torch loads, and inherited by the
    # commands the tests start, so images made here and there are made at the same thread count. Two threads
    # each would spin against each other.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:  # a plugin loaded it first
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the built-in tiny pipeline into a cache of the test session's own."""
    cache = tmp_path_factory.mktemp("diffaudit-cache")
    old = os.environ.get("DIFFAUDIT_CACHE")
    os.environ["DIFFAUDIT_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("DIFFAUDIT_CACHE", None)
    else:
        os.environ["DIFFAUDIT_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_sd_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Stable-Diffusion-style pipeline saved with save_pretrained into a temporary folder."""
    from generators import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a run config YAML (text) to a file and return its path."""

    def write(text: str, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


def cli_command() -> list[str]:
    """The installed CLI, as a subprocess command line."""
    return [sys.executable, "-m", "audit"]
