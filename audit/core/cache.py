"""Where derived files are cached between runs: built-in tiny models, zero-shot text embeddings."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$DIFFAUDIT_CACHE``, or ``~/.cache/diffaudit``."""
    return Path(os.environ.get("DIFFAUDIT_CACHE", Path.home() / ".cache" / "diffaudit"))
