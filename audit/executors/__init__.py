"""Executors: where the generation and scoring stages run.

- ``local`` (the default): one process, on the best device it finds;
- ``ray``: work units over Ray actors, one per GPU (or per CPU worker), on
  one machine or a cluster (``pip install 'diffaudit[ray]'``).

Either way the driver process alone writes the run directory.
"""

from __future__ import annotations

from audit.core.errors import ConfigError
from audit.executors.base import Executor
from audit.executors.local import LocalExecutor

EXECUTORS = ("local", "ray")

__all__ = ["EXECUTORS", "Executor", "LocalExecutor", "make_executor"]


def make_executor(name: str, *, address: str | None = None, workers: int | None = None) -> Executor:
    """The executor called ``name``; ``address`` and ``workers`` are for ``ray``."""
    if name == "local":
        if address is not None or workers is not None:
            raise ConfigError("--address and --workers are options of the ray executor (--executor ray)")
        return LocalExecutor()
    if name == "ray":
        from audit.executors.ray_executor import RayExecutor

        return RayExecutor(address=address, workers=workers)
    raise ConfigError(f"unknown executor {name!r}; choose one of: {', '.join(EXECUTORS)}")
