"""The bottom layer every other part of diffaudit stands on; it imports nothing else of the project.

- records: ProbeItem, GenerationRecord, Score, Finding;
- the run store: the run directory, the names of its files and which seeds an item gets;
- schema: typed dataclasses from YAML, with one-line errors naming file, key and value;
- errors the CLI shows as one line;
- shared constants (``UNKNOWN``, the score and label table columns), the device chooser
  and the registry that generators and classifiers register in.
"""

from audit.core.constants import (
    EMBEDDING_COLUMNS,
    IMAGE_COLUMNS,
    MEASUREMENT_COLUMNS,
    PROBE_COLUMNS,
    RESERVED_COLUMNS,
    SCORE_COLUMNS,
    UNKNOWN,
)
from audit.core.device import pick_device, pick_dtype
from audit.core.errors import ConfigError, DiffauditError, ModelNotFoundError, RunStoreError
from audit.core.records import Finding, GenerationRecord, ProbeItem, Score, stable_hash
from audit.core.registry import Registry
from audit.core.run_store import EncodedImage, RunStore, StorageFullError, seeds_for
from audit.core.schema import load_yaml, parse

__all__ = [
    "EMBEDDING_COLUMNS",
    "IMAGE_COLUMNS",
    "MEASUREMENT_COLUMNS",
    "PROBE_COLUMNS",
    "RESERVED_COLUMNS",
    "SCORE_COLUMNS",
    "UNKNOWN",
    "ConfigError",
    "DiffauditError",
    "EncodedImage",
    "Finding",
    "GenerationRecord",
    "ModelNotFoundError",
    "ProbeItem",
    "Registry",
    "RunStore",
    "RunStoreError",
    "Score",
    "StorageFullError",
    "load_yaml",
    "parse",
    "pick_device",
    "pick_dtype",
    "seeds_for",
    "stable_hash",
]
