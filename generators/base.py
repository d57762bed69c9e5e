"""The generator interface: ProbeItems × seeds in, images and GenerationRecords out.

Template method, as in garak: the public :meth:`Generator.generate` skips
finished (item, seed) pairs, batches the rest (:meth:`Generator.plan_batches`),
makes each batch with one ``torch.Generator`` per image (:meth:`Generator.render`:
out of memory halves the batch, failed, NaN and all-black images become
failed records) and writes it through the run store; a subclass implements
only :meth:`Generator._load` and :meth:`Generator._generate_batch`. An
executor's workers call ``render`` and hand the outputs to the driver, which
writes them.
"""

from __future__ import annotations

import abc
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

from audit.core.constants import GENERATED
from audit.core.records import GenerationRecord, ProbeItem, stable_hash
from audit.core.run_store import EncodedImage, RunStore

log = logging.getLogger(__name__)

# Reasons of failed images that are not exceptions; the report counts failures by the text before the colon.
NON_FINITE = "non-finite output: the model returned NaN or infinite values for this image"
ALL_BLACK = "all-black image: every pixel is 0"
OUT_OF_MEMORY = "out of memory: the model does not fit even at batch size 1"


@dataclasses.dataclass(frozen=True)
class GeneratedImage:
    """An image with facts about it alone (a safety-checker flag, its source file, ...)."""

    image: Any  # a PIL image
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class GeneratorParams:
    """Parameters every generator accepts; subclasses extend this dataclass."""

    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


class Generator(abc.ABC):
    """Turns (ProbeItem, seed) pairs into images. Subclasses declare ``type_name`` and ``Params``."""

    type_name: ClassVar[str]
    Params: ClassVar[type[GeneratorParams]] = GeneratorParams
    # Model calls are always made at params.batch_size images (see _run_batch);
    # generators that compute nothing (a folder of images) turn this off.
    pad_batches: ClassVar[bool] = True
    # Whether the image depends on the item's prompt and negative prompt (a mitigation that rewrites
    # prompts is refused for generators that do not read them: class-conditional models, image folders).
    reads_prompt: ClassVar[bool] = True
    # The kind of images it makes (audit.core.constants.IMAGE_DOMAINS), matched against each classifier's domain.
    domain: ClassVar[str] = GENERATED

    def __init__(self, params: GeneratorParams | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self._loaded = False
        # The batch size that fits in memory: params.batch_size until a model call runs out.
        self._fitted_batch = self.params.batch_size

    # -- identity --------------------------------------------------------------
    @property
    def generator_id(self) -> str:
        """A stable name for what made the images (type and model)."""
        model = getattr(self.params, "model", None)
        return f"{self.type_name}:{model}" if model else self.type_name

    def image_domain(self) -> str | None:
        """The kind of images this instance makes (its class's ``domain``, or what its model decides; None when
        unknown)."""
        return self.domain

    @property
    def config_hash(self) -> str:
        return stable_hash({"type": self.type_name, **dataclasses.asdict(self.params)})

    def from_hub(self) -> bool:
        """Whether loading may fetch a model from the model hub; False only when it is on disk or built in.

        The CLI probes the hub only for runs where some stage may fetch (see audit.core.hub); a generator
        that does not say is assumed to fetch.
        """
        return True

    # -- the public call -------------------------------------------------------
    def pending_pairs(self, pairs: Sequence[tuple[ProbeItem, int]], store: RunStore) -> list[tuple[ProbeItem, int]]:
        """The given (item, seed) pairs that have no image in ``store`` yet, in their order."""
        done = store.done_pairs()
        return [(item, seed) for item, seed in pairs if (item.item_id, seed) not in done]

    def generate(
        self,
        items: Sequence[ProbeItem],
        seeds: Sequence[int],
        store: RunStore,
        *,
        on_record: Callable[[GenerationRecord], None] | None = None,
    ) -> list[GenerationRecord]:
        """Make every missing image for ``items`` × ``seeds`` and record it in ``store``."""
        return self.generate_pairs([(item, seed) for item in items for seed in seeds], store, on_record=on_record)

    def generate_pairs(
        self,
        pairs: Sequence[tuple[ProbeItem, int]],
        store: RunStore,
        *,
        on_record: Callable[[GenerationRecord], None] | None = None,
    ) -> list[GenerationRecord]:
        """Make every missing image among (item, seed) ``pairs`` (items may have seeds of their own)."""
        return self.make_images(self.pending_pairs(pairs, store), store, on_record=on_record)

    def make_images(
        self,
        pairs: Sequence[tuple[ProbeItem, int]],
        store: RunStore,
        *,
        on_record: Callable[[GenerationRecord], None] | None = None,
    ) -> list[GenerationRecord]:
        """Make the images of all ``pairs`` in this process (the caller has left out the finished ones)."""
        if pairs:
            # Items the model cannot make (a class it does not know) stop the run before any image.
            self.load()
            self.check_items(list(dict.fromkeys(item for item, _ in pairs)))
        records = []
        for batch in self.plan_batches(pairs):
            # A batch's images and records are written together: one folder and one manifest sync per batch.
            for record in store.save_generations(self.render(batch)):
                records.append(record)
                if on_record is not None:
                    on_record(record)
        return records

    def plan_batches(self, pairs: Sequence[tuple[ProbeItem, int]]) -> list[list[tuple[ProbeItem, int]]]:
        """``pairs`` cut into model calls of ``batch_size``; items that cannot share a call get their own.

        Needs no model: an executor plans the work before any worker loads one.
        """
        groups: dict[Any, list[tuple[ProbeItem, int]]] = {}
        for pair in pairs:
            groups.setdefault(self._batch_key(pair[0]), []).append(pair)
        size = self.params.batch_size
        return [group[start : start + size] for group in groups.values() for start in range(0, len(group), size)]

    def load(self) -> None:
        """Load the model once (an executor's worker calls this before its first batch)."""
        if not self._loaded:
            self._load()
            self._loaded = True

    def render(self, batch: Sequence[tuple[ProbeItem, int]]) -> list[tuple[GenerationRecord, EncodedImage | None]]:
        """Make the images of one planned batch; returns each record with its PNG (None for a failed image).

        Nothing is written: the caller saves the outputs through the run store
        (:meth:`RunStore.save_generations`), in this process or, from a worker,
        in the driver. Out of memory halves the batch and retries, and the
        smaller size is kept for later batches; an image that fails, comes back
        NaN or all black is a failed record with its reason, never an image.
        """
        self.load()
        self.check_items(list(dict.fromkeys(item for item, _ in batch)))
        outputs: list[tuple[GenerationRecord, EncodedImage | None]] = []
        start = 0
        while start < len(batch):
            size = self._fitted_batch
            chunk = list(batch[start : start + size])
            try:
                outputs += self._run_chunk(chunk, size)
            except _OutOfMemory as exc:
                if size == 1:
                    item, seed = chunk[0]
                    log.error("image %s seed %d does not fit in memory: %s", item.item_id, seed, exc.__cause__)
                    outputs.append((self._record(item, seed, None, error=OUT_OF_MEMORY), None))
                    start += 1
                    continue
                self._fitted_batch = size // 2
                log.warning("out of memory at batch size %d; retrying with %d", size, self._fitted_batch)
                _free_memory()
                continue
            start += len(chunk)
        return outputs

    def _run_chunk(
        self, chunk: list[tuple[ProbeItem, int]], size: int
    ) -> list[tuple[GenerationRecord, EncodedImage | None]]:
        import torch

        started = time.perf_counter()
        items = [item for item, _ in chunk]
        seeds = [seed for _, seed in chunk]
        if self.pad_batches and len(chunk) < size:
            # Float kernels round differently at different batch shapes, so every
            # call is made at the same batch size: a short batch is filled with
            # throw-away copies of its first image. Within one shape, an image's
            # bytes do not depend on its neighbours or its position (given layer
            # widths that are multiples of the CPU's vector width: elementwise
            # kernels compute the ragged ends of rows on a scalar path).
            filler = size - len(chunk)
            items += [items[0]] * filler
            seeds += [seeds[0]] * filler
        try:
            # One generator per image: an image depends on its own (prompt, seed) only.
            rngs = [
                torch.Generator("cpu").manual_seed(self._image_seed(item, seed))
                for item, seed in zip(items, seeds, strict=True)
            ]
            images = self._generate_batch(items, rngs)[: len(chunk)]
        except Exception as exc:  # noqa: BLE001 — a failed model call must not end the run
            if is_out_of_memory(exc):
                raise _OutOfMemory() from exc
            if len(chunk) > 1:
                log.warning("batch of %d failed (%s); retrying one image at a time", len(chunk), exc)
                return [out for pair in chunk for out in self._run_chunk([pair], size)]
            item, seed = chunk[0]
            log.error("image %s seed %d failed: %s", item.item_id, seed, exc)
            return [(self._record(item, seed, None, error=_one_line(exc)), None)]
        elapsed = (time.perf_counter() - started) / len(chunk)
        outputs = []
        for (item, seed), output in zip(chunk, images, strict=True):
            if not isinstance(output, GeneratedImage):
                output = GeneratedImage(output)
            # No image: the model call reports this image's own failure in its meta.
            error = None if output.image is not None else output.meta.get("error", "no image")
            if error is None and is_all_black(output.image):
                error = ALL_BLACK
            meta = {**self.record_meta(), **output.meta}
            if meta.get("device") == "cpu":
                # CPU kernels split their sums by thread: the thread count is part of what decides the bytes.
                meta["cpu_threads"] = torch.get_num_threads()
            if size < self.params.batch_size:
                meta["batch_size"] = size  # made at a smaller shape after running out of memory
            record = dataclasses.replace(self._record(item, seed, elapsed, error=error), meta=meta)
            outputs.append((record, EncodedImage.from_image(output.image) if error is None else None))
        return outputs

    def failed_record(self, item: ProbeItem, seed: int, error: str) -> GenerationRecord:
        """The record of an image that could not be made, with its reason (``"<kind>: <detail>"``)."""
        return self._record(item, seed, None, error=error)

    def _record(
        self, item: ProbeItem, seed: int, elapsed: float | None, *, error: str | None = None
    ) -> GenerationRecord:
        return GenerationRecord(
            record_id=GenerationRecord.make_record_id(item.item_id, seed),
            item_id=item.item_id,
            seed=seed,
            generator=self.generator_id,
            generator_config=self.config_hash,
            steps=getattr(self.params, "steps", None),
            guidance=self._guidance_for(item),
            elapsed_s=elapsed,
            error=error,
            meta=self.record_meta(),
        )

    # -- what a subclass provides ----------------------------------------------
    def _batch_key(self, item: ProbeItem) -> Any:
        """Items whose keys differ never share a model call (default: all may)."""
        return None

    def _guidance_for(self, item: ProbeItem) -> float | None:
        """The guidance scale this item's images are made with, as recorded."""
        return getattr(self.params, "guidance", None)

    def _load(self) -> None:  # noqa: B027 — optional hook
        """Load the model; called once, before the first image. Raise DiffauditError if impossible."""

    def check_items(self, items: Sequence[ProbeItem]) -> None:  # noqa: B027 — optional hook
        """Raise DiffauditError naming the first item the loaded model cannot make (before any image is made)."""

    def _image_seed(self, item: ProbeItem, seed: int) -> int:
        """The seed of the ``torch.Generator`` of image (item, seed): the seed itself unless a generator says."""
        return seed

    @abc.abstractmethod
    def _generate_batch(self, items: list[ProbeItem], rngs: list[Any]) -> list[Any]:
        """Return one PIL image (or :class:`GeneratedImage`) per item.

        All randomness for image ``i`` must come from ``rngs[i]`` (a CPU
        ``torch.Generator`` seeded with :meth:`_image_seed`, ``rngs[i].initial_seed()``),
        so that an image never depends on its batch. A ``GeneratedImage`` whose
        ``image`` is None records a failure of that image alone (``meta["error"]``).
        """

    def record_meta(self) -> dict[str, Any]:
        """Facts recorded with every image (pipeline class, scheduler, dtype, ...)."""
        return {}

    @classmethod
    def example_params(cls, workdir: Path, items: Sequence[ProbeItem], seeds: Sequence[int]) -> GeneratorParams:
        """Parameters of a tiny instance that runs offline in seconds (for contract tests and demos).

        ``workdir`` is an empty folder the example may build models or files in;
        ``items`` and ``seeds`` are what it will be asked to generate.
        """
        raise NotImplementedError(f"generator {cls.type_name!r} provides no offline example")


def seed_with_prompt(prompt: str, seed: int) -> int:
    """A 63-bit seed from (prompt, seed), for models that make two prompts into the same input.

    A class-conditional model sees "a photo of a nurse" and "a portrait of a nurse" as one class;
    seeding its noise with the seed alone would give both prompts the same images.
    """
    return int(stable_hash({"prompt": prompt, "seed": seed}), 16) % (2**63)


class _OutOfMemory(Exception):
    """A model call ran out of memory (the original error is its cause)."""


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says the device (CUDA, MPS) or the host ran out of memory."""
    import torch

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "not enough memory" in text)


def is_all_black(image: Any) -> bool:
    """Whether every pixel of ``image`` is 0 (a NaN decoded to black, or a blacked-out output)."""
    return image.getbbox(alpha_only=False) is None


def _free_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _one_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0] if text else type(exc).__name__
