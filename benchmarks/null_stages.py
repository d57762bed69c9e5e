"""A generator and a classifier that cost (nearly) nothing, to measure what the pipeline itself costs per image.

Importing this module registers them as generator ``null`` and classifier
``null``. ``work_ms`` makes each image cost that much CPU time instead, to
stand in for a model when measuring how throughput scales with workers.
"""

from __future__ import annotations

import dataclasses
import time
import zlib
from typing import Any, ClassVar

from audit.classifiers.base import Classifier, ClassifierParams, ImageResult
from audit.classifiers.base import register as register_classifier
from generators.base import Generator, GeneratorParams
from generators.registry import register as register_generator

LABELS = ("feminine", "masculine")


def _burn(ms: float) -> None:
    """Spend ``ms`` milliseconds of CPU, as a model would (not sleep: workers must compete for cores)."""
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


@dataclasses.dataclass(frozen=True)
class NullGeneratorParams(GeneratorParams):
    batch_size: int = 64
    size: int = 8
    work_ms: float = 0.0


@register_generator
class NullGenerator(Generator):
    """Flat images whose colour is a hash of (prompt, seed): no model, no randomness to speak of."""

    type_name: ClassVar[str] = "null"
    Params: ClassVar[type[GeneratorParams]] = NullGeneratorParams
    pad_batches: ClassVar[bool] = False
    params: NullGeneratorParams

    def _generate_batch(self, items: list[Any], rngs: list[Any]) -> list[Any]:
        from PIL import Image

        images = []
        for item, rng in zip(items, rngs, strict=True):
            _burn(self.params.work_ms)
            value = zlib.crc32(f"{item.item_id}-{rng.initial_seed()}".encode()) & 0xFFFFFF
            colour = (1 + (value >> 16) % 255, value >> 8 & 0xFF, value & 0xFF)  # never all black
            images.append(Image.new("RGB", (self.params.size, self.params.size), colour))
        return images


@dataclasses.dataclass(frozen=True)
class NullClassifierParams(ClassifierParams):
    work_ms: float = 0.0


@register_classifier
class NullClassifier(Classifier):
    """Perceived gender presentation from one pixel's parity: every label and the ``unknown`` row, plus a number."""

    type_name: ClassVar[str] = "null"
    Params: ClassVar[type[ClassifierParams]] = NullClassifierParams
    params: NullClassifierParams

    def libraries(self) -> tuple[str, ...]:
        return ()

    def predict(self, prepared: Any) -> list[ImageResult]:
        results = []
        for image in prepared:
            _burn(self.params.work_ms)
            red = image.getpixel((0, 0))[0]
            result = ImageResult(measurements={"red": float(red)})
            chosen = LABELS[red % 2]
            result.add_distribution(
                "perceived_gender_presentation",
                {label: 0.9 if label == chosen else 0.1 for label in LABELS},
                abstain=False,
            )
            results.append(result)
        return results
