"""Exit codes of the verbs, and the guard that keeps a crash from reading as a failed check."""

from __future__ import annotations

import logging
from collections.abc import Callable

from audit.core.errors import DiffauditError
from audit.findings.gate import FAIL, PASS

__all__ = ["ERROR", "FAIL", "PASS", "guarded"]

log = logging.getLogger(__name__)

ERROR = 2
Outcome = tuple[list[str], int]


def guarded(func: Callable[[], Outcome]) -> Outcome:
    """Run a gating verb: an unexpected error exits 2 (error), never 1 (a check failed)."""
    try:
        return func()
    except DiffauditError:
        raise
    except Exception as exc:  # any crash is an error, not a failed check
        log.debug("command crashed", exc_info=True)
        raise DiffauditError(f"internal error ({type(exc).__name__}: {exc})") from exc
