"""The ``ray`` executor: generation and scoring spread over Ray actors, on one machine or many.

Work is cut into units — a few model batches of (item, seed) pairs, or of
images to score — and fed to actors, one per GPU (or per CPU worker where
there is none), each loading its model once. Actors compute and hand back
PNGs or score rows; only the driver writes, through its run store, so the run
directory needs to live on the driver's machine alone and no two processes
ever write the same file. A unit whose actor dies (killed, out of host
memory, its node lost) is given to a new actor; after ``max_attempts`` lost
workers its images are recorded as failed (generation) or left for the next
``diffaudit score`` (scoring). An actor whose library versions differ from
the driver's is refused: its images would not be the driver's images.

``address=None`` starts a local Ray instance (or uses ``RAY_ADDRESS``);
``"auto"`` or ``"ray://host:10001"`` joins a running cluster.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from audit.core.errors import DiffauditError
from audit.core.records import GenerationRecord, ProbeItem
from audit.core.run_store import RunStore, package_versions
from audit.executors.base import Executor, ProgressFactory

log = logging.getLogger(__name__)

# Libraries that decide an image's bytes or a score: workers must run the driver's versions.
MATCHED_PACKAGES = ("diffaudit", "torch", "diffusers", "transformers", "open_clip_torch", "numpy", "pillow")
# The reason of images whose workers kept dying (the report counts failures by the text before the colon).
LOST_WORKER = "worker lost"
# Settings a worker on another machine takes from the driver (not paths: each node has its own).
FORWARDED_ENV = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM")


def import_ray() -> Any:
    """The ``ray`` module, or one clear line on how to install it."""
    try:
        import ray
    except ImportError:
        raise DiffauditError("executor 'ray' needs Ray: pip install 'diffaudit[ray]'") from None
    return ray


def _prepare_worker(env: dict[str, str], threads: int) -> None:
    os.environ.update(env)  # before any hub library is imported in this process
    import torch

    torch.set_num_threads(threads)


def _worker_facts() -> dict[str, Any]:
    return {"pid": os.getpid(), "node": platform.node(), "versions": package_versions(MATCHED_PACKAGES)}


class GenerationWorker:
    """A Ray actor holding one generator, loaded once: makes the images of work units."""

    def __init__(self, generator_cls: type, params: Any, env: dict[str, str], threads: int) -> None:
        _prepare_worker(env, threads)
        self.generator = generator_cls(params)

    def load(self) -> dict[str, Any]:
        self.generator.load()
        return _worker_facts()

    def render(self, unit: list[list[tuple[ProbeItem, int]]]) -> list[tuple[GenerationRecord, Any]]:
        return [output for batch in unit for output in self.generator.render(batch)]


class ScoringWorker:
    """A Ray actor holding the run's classifiers, loaded once: scores the PNGs of work units."""

    def __init__(
        self,
        modules: list[str],
        specs: list[Any],
        device: str,
        batch_size: int,
        amp: bool,
        source: str,
        env: dict[str, str],
        threads: int,
    ) -> None:
        _prepare_worker(env, threads)
        import importlib

        from audit.classifiers import build_classifiers

        for module in modules:  # classifiers registered outside diffaudit register on import, here as in the driver
            importlib.import_module(module)

        self.classifiers = build_classifiers(specs, device=device, source=source)
        self.batch_size = batch_size
        self.amp = amp

    def load(self) -> dict[str, Any]:
        for classifier in self.classifiers:
            classifier.load()
        facts = _worker_facts()
        facts["classifiers"] = [
            classifier.version()
            | {
                "device": classifier.device,
                "batch_size": self.batch_size,
                "amp": self.amp and classifier.device.startswith("cuda"),
            }
            for classifier in self.classifiers
        ]
        return facts

    def score(self, keys: list[str], pngs: list[bytes], needed: dict[str, list[str]]) -> Any:
        import io

        import pyarrow as pa
        from PIL import Image

        from audit.classifiers import ScoredBatch, collect_results, iter_results

        def decode(data: bytes) -> Any:
            with Image.open(io.BytesIO(data)) as image:
                return image.convert("RGB")

        ids = [c.classifier_id for c in self.classifiers]
        items = list(zip(keys, pngs, strict=True))
        batches = iter_results(self.classifiers, items, batch_size=self.batch_size, load=decode, amp=self.amp)
        parts = [collect_results(batch_keys, ids, results, needed=needed) for batch_keys, results in batches]
        by_size: dict[int, list[Any]] = collections.defaultdict(list)
        for part in parts:
            for table in part.embeddings:
                by_size[table.schema.field("embedding").type.list_size].append(table)
        return ScoredBatch(
            images=len(keys),
            scores=pa.concat_tables([p.scores for p in parts]),
            measurements=pa.concat_tables([p.measurements for p in parts]),
            embeddings=[pa.concat_tables(tables) for _, tables in sorted(by_size.items())],
        )


@dataclasses.dataclass
class _Slot:
    actor: Any
    load_ref: Any = None
    ready: bool = False
    dead: bool = False
    running: int = 0


class WorkerPool:
    """Ray actors of one kind, fed work units; a unit whose worker is lost is retried on a new one."""

    def __init__(
        self,
        ray: Any,
        worker_cls: type,
        args: tuple[Any, ...],
        *,
        count: int,
        options: dict[str, Any],
        max_attempts: int = 3,
        in_flight: int = 2,
        startup_timeout: float = 600.0,
    ) -> None:
        self.ray = ray
        self.remote_cls = ray.remote(worker_cls).options(max_restarts=0, **options)
        self.args = args
        self.count = count
        self.max_attempts = max_attempts
        self.in_flight = in_flight
        self.startup_timeout = startup_timeout
        self.slots: list[_Slot] = []
        self.facts: list[dict[str, Any]] = []
        self.lost_workers = 0
        self._lost = (
            ray.exceptions.RayActorError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.ObjectLostError,
        )

    def _start_one(self) -> None:
        actor = self.remote_cls.remote(*self.args)
        self.slots.append(_Slot(actor=actor, load_ref=actor.load.remote()))

    def _lose(self, slot: _Slot, exc: BaseException) -> None:
        """Count a worker as lost (once) and start another in its place, within bounds."""
        if slot.dead:
            return
        slot.dead = True
        self.lost_workers += 1
        log.warning("a Ray worker was lost (%s); its work goes to another", _one_line(exc))
        self.ray.kill(slot.actor, no_restart=True)
        if self.lost_workers > self.count * self.max_attempts:
            raise DiffauditError(
                f"{self.lost_workers} Ray workers were lost; stopping. Finished images are kept: "
                "check the workers' logs and continue with --resume"
            )
        self._start_one()

    def run(
        self,
        units: Sequence[Any],
        method: str,
        payload: Callable[[Any], tuple[Any, ...]],
        on_done: Callable[[Any, Any], None],
        on_lost: Callable[[Any, str], None],
        on_ready: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """Call ``method(*payload(unit))`` on the workers for every unit; hand each result to ``on_done``.

        A unit whose worker was lost ``max_attempts`` times goes to ``on_lost``;
        ``on_ready`` gets the facts (pid, node, versions, ...) of the first
        worker to load. An error raised inside a worker (a missing model, say)
        stops the run.
        """
        queue = collections.deque(range(len(units)))
        attempts: collections.Counter[int] = collections.Counter()
        running: dict[Any, tuple[_Slot, int]] = {}
        if not self.slots:
            for _ in range(self.count):
                self._start_one()
        waiting_since = time.monotonic()
        while queue or running:
            for slot in self.slots:
                while slot.ready and not slot.dead and slot.running < self.in_flight and queue:
                    index = queue.popleft()
                    ref = getattr(slot.actor, method).remote(*payload(units[index]))
                    running[ref] = (slot, index)
                    slot.running += 1
            loading = {s.load_ref: s for s in self.slots if not s.ready and not s.dead}
            refs = list(running) + list(loading)
            if not refs:
                raise DiffauditError("no Ray worker is left to run the remaining work; continue with --resume")
            done, _ = self.ray.wait(refs, num_returns=1, timeout=10.0)
            if not done:
                if not running and time.monotonic() - waiting_since > self.startup_timeout:
                    raise DiffauditError(
                        f"no Ray worker started within {self.startup_timeout:.0f} s; does the cluster have the "
                        "resources asked for (GPUs, CPUs)? `ray status` shows them"
                    )
                continue
            ref = done[0]
            if ref in loading:
                self._finish_loading(loading[ref], ref)
                if on_ready is not None and len(self.facts) == 1 and loading[ref].ready:
                    on_ready(self.facts[0])
                waiting_since = time.monotonic()
                continue
            slot, index = running.pop(ref)
            slot.running -= 1
            try:
                result = self.ray.get(ref)
            except self._lost as exc:
                self._lose(slot, exc)
                attempts[index] += 1
                if attempts[index] >= self.max_attempts:
                    reason = f"{LOST_WORKER}: died {attempts[index]} times on this work ({_one_line(exc)})"
                    on_lost(units[index], reason)
                else:
                    queue.appendleft(index)
                continue
            except self.ray.exceptions.RayTaskError as exc:
                raise _worker_error(exc) from None
            on_done(units[index], result)

    def _finish_loading(self, slot: _Slot, ref: Any) -> None:
        try:
            facts = self.ray.get(ref)
        except self._lost as exc:
            self._lose(slot, exc)
            return
        except self.ray.exceptions.RayTaskError as exc:
            raise _worker_error(exc) from None
        mine = package_versions(MATCHED_PACKAGES)
        differ = {k: (v, mine.get(k)) for k, v in facts["versions"].items() if v != mine.get(k)}
        if differ:
            name, (theirs, ours) = next(iter(differ.items()))
            raise DiffauditError(
                f"the Ray worker on {facts['node']} runs {name} {theirs}, this machine {ours}: install the same "
                "versions on every node (different versions make different images)"
            )
        slot.ready = True
        self.facts.append(facts)
        log.info("Ray worker %d ready on %s", facts["pid"], facts["node"])

    def shutdown(self) -> None:
        for slot in self.slots:
            if not slot.dead:
                self.ray.kill(slot.actor, no_restart=True)
        self.slots = []


def _worker_error(exc: BaseException) -> DiffauditError:
    """An error raised inside a worker, as the driver's one-line error."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, DiffauditError):
        return type(cause)(str(cause))
    return DiffauditError(f"a Ray worker failed: {_one_line(cause if cause is not None else exc)}")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


class RayExecutor(Executor):
    """Generation and scoring over Ray actors: one per GPU, or per CPU worker where there is none."""

    name: ClassVar[str] = "ray"

    def __init__(
        self,
        *,
        address: str | None = None,
        workers: int | None = None,
        max_attempts: int = 3,
        images_per_unit: int | None = None,
        startup_timeout: float = 600.0,
    ) -> None:
        if workers is not None and workers < 1:
            raise DiffauditError(f"--workers must be at least 1, got {workers}")
        self.ray = import_ray()
        self.address = address
        self.workers = workers
        self.max_attempts = max_attempts
        self.images_per_unit = images_per_unit
        self.startup_timeout = startup_timeout
        self._connected_here = False

    # -- the cluster -----------------------------------------------------------
    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        try:
            if self.address is None:
                ray.init(logging_level=logging.WARNING, include_dashboard=False)
            else:
                ray.init(address=self.address, logging_level=logging.WARNING)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
            raise DiffauditError(f"cannot start or reach {where}: {_one_line(exc)}") from None
        self._connected_here = True
        log.info("Ray cluster: %s", ray.cluster_resources())

    def _layout(self, device: str) -> tuple[int, dict[str, Any], int]:
        """How many workers, their Ray resources and their torch threads."""
        self._connect()
        resources = self.ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
        if gpus and device in ("auto", "cuda"):
            count = self.workers or gpus
            return count, {"num_gpus": 1, "num_cpus": 1}, max(1, min(4, cpus // count))
        count = self.workers or cpus
        per = max(1, cpus // count)
        return count, {"num_cpus": per}, per

    def _pool(self, worker_cls: type, args: tuple[Any, ...], device: str) -> WorkerPool:
        count, options, threads = self._layout(device)
        env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
        log.info("%d Ray worker(s) of %s, %s each", count, worker_cls.__name__, options)
        return WorkerPool(
            self.ray,
            worker_cls,
            (*args, env, threads),
            count=count,
            options=options,
            max_attempts=self.max_attempts,
            startup_timeout=self.startup_timeout,
        )

    def close(self) -> None:
        if self._connected_here and self.ray.is_initialized():
            self.ray.shutdown()
        self._connected_here = False

    # -- the stages ------------------------------------------------------------
    def generate(
        self,
        store: RunStore,
        generator: Any,
        pairs: Sequence[tuple[ProbeItem, int]],
        *,
        on_record: Callable[[GenerationRecord], None] | None = None,
    ) -> list[GenerationRecord]:
        batches = generator.plan_batches(pairs)
        if not batches:
            return []
        per_unit = self.images_per_unit or generator.params.batch_size
        units: list[list[list[tuple[ProbeItem, int]]]] = [[]]
        for batch in batches:
            if units[-1] and sum(len(b) for b in units[-1]) + len(batch) > per_unit:
                units.append([])
            units[-1].append(batch)
        records: list[GenerationRecord] = []

        def save(outputs: list[tuple[GenerationRecord, Any]]) -> None:
            for record in store.save_generations(outputs):
                records.append(record)
                if on_record is not None:
                    on_record(record)

        def lost(unit: list[list[tuple[ProbeItem, int]]], reason: str) -> None:
            log.error("%d image(s) failed: %s", sum(len(b) for b in unit), reason)
            save([(generator.failed_record(item, seed, reason), None) for batch in unit for item, seed in batch])

        device = getattr(generator.params, "device", "auto")
        pool = self._pool(GenerationWorker, (type(generator), generator.params), device)
        try:
            pool.run(units, "render", lambda unit: (unit,), lambda _unit, outputs: save(outputs), lost)
        finally:
            pool.shutdown()  # frees the GPUs for the scoring workers
        return records

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
        import contextlib

        from audit.classifiers import ScoreWriter, build_classifiers, classifier_class, plan_scoring, write_versions

        # Building a classifier reads its label set but loads no weights: enough to know its id.
        ids = [c.classifier_id for c in build_classifiers(specs, device="cpu", source=source)]
        plan = plan_scoring(store, ids)
        if not plan.todo:
            store.compact()  # a stage killed after its last part still ends with merged tables
            return {"scored": 0, "skipped": plan.total, "total": plan.total}
        active = [spec for spec, name in zip(specs, ids, strict=True) if name in plan.active]
        log.info("%d of %d images to score with %s", len(plan.todo), plan.total, ", ".join(plan.active))
        per_unit = self.images_per_unit or 4 * batch_size
        units = [plan.todo[i : i + per_unit] for i in range(0, len(plan.todo), per_unit)]

        def payload(unit: list[tuple[str, str]]) -> tuple[Any, ...]:
            keys = [key for key, _ in unit]
            pngs = [(store.root / path).read_bytes() for _, path in unit]
            return keys, pngs, {key: plan.needed[key] for key in keys}

        writer = ScoreWriter(store, flush_every=flush_every)
        lost_images = 0
        modules = sorted({classifier_class(spec.type).__module__ for spec in active})
        pool = self._pool(ScoringWorker, (modules, list(active), device, batch_size, amp, source), device)
        bar = progress("scoring", len(plan.todo)) if progress else contextlib.nullcontext(None)
        try:
            with bar as advance:

                def done(_unit: Any, batch: Any) -> None:
                    writer.add(batch)
                    if advance is not None:
                        for _ in range(batch.images):
                            advance()

                def lost(unit: list[tuple[str, str]], reason: str) -> None:
                    nonlocal lost_images
                    lost_images += len(unit)
                    log.error("%d image(s) not scored: %s; run `diffaudit score` to retry them", len(unit), reason)

                def ready(facts: dict[str, Any]) -> None:
                    # The first worker's classifiers, loaded, say what wrote the scores (weights fingerprints too).
                    write_versions(store, facts["classifiers"])

                pool.run(units, "score", payload, done, lost, on_ready=ready)
        except BaseException:
            writer.close_after_error()
            raise
        finally:
            pool.shutdown()
        writer.close()
        scored = len(plan.todo) - lost_images
        return {"scored": scored, "skipped": plan.total - len(plan.todo), "total": plan.total}
