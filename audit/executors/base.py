"""The executor interface: where a run's generation and scoring happen.

An executor receives work the runner has planned — the (item, seed) pairs
still missing, or the classifiers to run — and returns what the stage made.
Whatever runs the models, results reach the run directory through the one
run store of the driver process, so the crash guarantees of
:mod:`audit.core.run_store` hold for every executor.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from audit.core.records import GenerationRecord, ProbeItem
from audit.core.run_store import RunStore

# Given a description and a total, a context manager yielding an ``advance()`` callable (see audit.runner).
ProgressFactory = Callable[[str, int], Any]


class Executor(abc.ABC):
    """Runs the generation and scoring stages; use it as a context manager so workers are released."""

    name: ClassVar[str]

    @abc.abstractmethod
    def generate(
        self,
        store: RunStore,
        generator: Any,
        pairs: Sequence[tuple[ProbeItem, int]],
        *,
        on_record: Callable[[GenerationRecord], None] | None = None,
    ) -> list[GenerationRecord]:
        """Make the images of ``pairs`` with ``generator`` (a :class:`generators.Generator`, not loaded yet).

        ``pairs`` are the ones still missing; each finished image is written
        through ``store`` and passed to ``on_record``.
        """

    @abc.abstractmethod
    def score(
        self,
        store: RunStore,
        specs: Sequence[Any],
        *,
        batch_size: int = 32,
        device: str = "auto",
        amp: bool = True,
        flush_every: int = 512,
        source: str = "(config)",
        progress: ProgressFactory | None = None,
    ) -> dict[str, int]:
        """Score every image of the run that some classifier of ``specs`` (config entries) has not scored.

        Scores are saved every ``flush_every`` images. Returns counts:
        ``scored``, ``skipped`` (scored before) and ``total``.
        """

    def close(self) -> None:  # noqa: B027 — an executor without workers has nothing to release
        """Release workers and connections."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
