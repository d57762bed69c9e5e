"""Errors the CLI turns into one clear line and exit code 2."""

from __future__ import annotations


class DiffauditError(Exception):
    """An error the user can act on; its message is one line, shown without a traceback."""


class ConfigError(DiffauditError):
    """A config, suite or policy file is malformed: the message names the file, key and value."""


class RunStoreError(DiffauditError):
    """A run directory cannot be used as asked (exists, belongs to another config, is locked)."""


class ModelNotFoundError(DiffauditError):
    """A model is neither on disk nor downloadable; the message says how to get it."""
