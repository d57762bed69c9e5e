"""audit: records, the run store, config, and (in submodules) the runner and CLI."""

from audit.config import RunConfig, load_config
from audit.errors import (
    ConfigError,
    DiffauditError,
    ModelNotFoundError,
    RunStoreError,
)
from audit.records import Finding, GenerationRecord, ProbeItem, Score
from audit.run_store import RunStore

__all__ = [
    "ConfigError",
    "DiffauditError",
    "Finding",
    "GenerationRecord",
    "ModelNotFoundError",
    "ProbeItem",
    "RunConfig",
    "RunStore",
    "RunStoreError",
    "Score",
    "load_config",
]
