"""The ``local`` executor: every stage in this process, on the best device it finds."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from audit.core.records import GenerationRecord, ProbeItem
from audit.core.run_store import RunStore
from audit.executors.base import Executor, ProgressFactory


class LocalExecutor(Executor):
    """One process: the generator and the classifiers are loaded here and write through the run store.

    The classifiers built for a config stay loaded for the executor's life, so a sequential run's rounds
    (one ``score`` call each) load them once.
    """

    name: ClassVar[str] = "local"

    def __init__(self) -> None:
        self._classifiers: dict[tuple[Any, ...], list[Any]] = {}

    def generate(
        self,
        store: RunStore,
        generator: Any,
        pairs: Sequence[tuple[ProbeItem, int]],
        *,
        on_record: Callable[[GenerationRecord], None] | None = None,
    ) -> list[GenerationRecord]:
        return generator.make_images(pairs, store, on_record=on_record)

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
        from audit.classifiers import build_classifiers, score_run

        key = (tuple(repr(spec) for spec in specs), device, source)
        if key not in self._classifiers:
            self._classifiers[key] = build_classifiers(specs, device=device, source=source)
        classifiers = self._classifiers[key]
        return score_run(store, classifiers, batch_size=batch_size, amp=amp, flush_every=flush_every, progress=progress)
