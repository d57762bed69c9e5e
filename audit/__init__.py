"""audit: the bottom layer (``audit.core``), classifiers, statistics, findings, and the runner and CLI on top.

Importing ``audit`` loads only ``audit.core``: the records, the run store and
the errors, re-exported here. The config (``audit.config``), the stages
(``audit.runner``) and the command line (``audit.cli``) tie the layers
together and are imported by name.
"""

from audit.core import (
    ConfigError,
    DiffauditError,
    Finding,
    GenerationRecord,
    ModelNotFoundError,
    ProbeItem,
    RunStore,
    RunStoreError,
    Score,
)

__all__ = [
    "ConfigError",
    "DiffauditError",
    "Finding",
    "GenerationRecord",
    "ModelNotFoundError",
    "ProbeItem",
    "RunStore",
    "RunStoreError",
    "Score",
]
