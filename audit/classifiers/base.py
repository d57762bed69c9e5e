"""The classifier interface: images in, Score rows and raw measurements out.

Template method, as in the generators: :meth:`Classifier.classify` loads the
model once and scores a batch; a subclass declares ``type_name`` and a
``Params`` dataclass, and implements :meth:`Classifier._load`,
:meth:`Classifier.prepare` (CPU work on PIL images, which the scoring stage
runs ahead on a second thread) and :meth:`Classifier.predict` (the model call).

Output conventions (what ``scores.parquet`` holds):

- each attribute of each image has one row per label with its probability;
- abstention is the explicit label ``unknown``: its row carries 1.0 when the
  classifier abstained and 0.0 otherwise, so the decided label is always the
  row with the highest ``prob``. When abstaining, class probabilities are
  capped just below 1 (:data:`ABSTAIN_CAP`) so that no class ties with
  ``unknown``, whatever tie rule a reader uses;
- raw numbers that are not probabilities (ITA in degrees, cosine scores, face
  counts, per-concept scores) are *measurements*, kept beside the scores;
- CLIP classifiers also hand back each image's normalised embedding, which the
  scoring stage keeps in ``embeddings.parquet`` for the diversity statistics.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from audit.core.constants import GENERATED, PHOTOGRAPHS, UNKNOWN
from audit.core.registry import Registry

# Largest class probability reported beside an abstention (float32 softmax can reach exactly 1.0).
ABSTAIN_CAP = 1.0 - 1e-6


@dataclasses.dataclass(frozen=True)
class ClassifierParams:
    """Parameters every classifier accepts; subclasses extend this dataclass."""


@dataclasses.dataclass
class ImageResult:
    """What one classifier says about one image."""

    # (attribute, label, prob) rows, ``unknown`` rows included.
    labels: list[tuple[str, str, float]] = dataclasses.field(default_factory=list)
    # Raw numbers: name -> value (NaN when not measurable).
    measurements: dict[str, float] = dataclasses.field(default_factory=dict)
    # The image embedding the scores came from (CLIP), for diversity measures; None for others.
    embedding: Any = None

    def add_distribution(self, attribute: str, probs: dict[str, float], *, abstain: bool) -> None:
        """Rows for every label of ``attribute`` plus its ``unknown`` row (1.0 when abstaining)."""
        for label, prob in probs.items():
            self.labels.append((attribute, label, min(float(prob), ABSTAIN_CAP) if abstain else float(prob)))
        self.labels.append((attribute, UNKNOWN, 1.0 if abstain else 0.0))

    def add_decision(self, attribute: str, label: str) -> None:
        """One row: a measured (not estimated) label, with probability 1."""
        self.labels.append((attribute, label, 1.0))


class Classifier(abc.ABC):
    """Scores images. Subclasses declare ``type_name``, ``Params`` and ``attributes``."""

    type_name: ClassVar[str]
    Params: ClassVar[type[ClassifierParams]] = ClassifierParams
    # The kinds of images (audit.core.constants.IMAGE_DOMAINS) the classifier was made for; a run whose
    # generator makes another kind records its attributes as out of domain (not judged).
    domain: ClassVar[tuple[str, ...]] = (PHOTOGRAPHS, GENERATED)
    # Attributes made for fewer kinds of images than the classifier as a whole (a reading validated on
    # photographs only): on a run of another kind they are out of domain while the classifier's others are not.
    attribute_domains: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, params: ClassifierParams | None = None, *, device: str = "cpu") -> None:
        self.params = params if params is not None else self.Params()
        self.device = device
        self._loaded = False

    # -- identity --------------------------------------------------------------
    @property
    def classifier_id(self) -> str:
        """The ``classifier`` column of the scores, for example ``clip:ViT-L-14/openai``."""
        return self.type_name

    def version(self) -> dict[str, Any]:
        """What decides this classifier's outputs: type, parameters, library versions."""
        return {
            "classifier": self.classifier_id,
            "type": self.type_name,
            "params": _plain(dataclasses.asdict(self.params)),
            "libraries": {name: _version(name) for name in self.libraries()},
        }

    def image_domain(self) -> tuple[str, ...]:
        """The kinds of images this instance was made for (its class's ``domain``; a model-dependent one, such
        as a CLIP trained on the sandbox's renders, narrows it)."""
        return self.domain

    def attribute_domain(self, attribute: str) -> tuple[str, ...]:
        """The kinds of images ``attribute`` was made for: the instance's domain, narrowed where the class says."""
        narrower = self.attribute_domains.get(attribute)
        return self.image_domain() if narrower is None else tuple(d for d in self.image_domain() if d in narrower)

    def libraries(self) -> Sequence[str]:
        return ("torch",)

    # -- scoring ---------------------------------------------------------------
    def load(self) -> None:
        if not self._loaded:
            self._load()
            self._loaded = True

    def classify(self, images: Sequence[Any]) -> list[ImageResult]:
        """Score a batch of RGB PIL images, one result per image, in order."""
        import torch

        self.load()
        with torch.inference_mode():
            return self.predict(self.prepare(images))

    def from_hub(self) -> bool:
        """Whether loading may fetch weights from the model hub; False only when everything is on disk or built in.

        The CLI probes the hub only for runs where some stage may fetch (see audit.core.hub); a classifier
        that does not say is assumed to fetch.
        """
        return True

    def check_available(self) -> None:  # noqa: B027 — weight-free classifiers need nothing
        """Raise ModelNotFoundError now if the weights cannot be had (fetching them if allowed), without loading."""

    def _load(self) -> None:  # noqa: B027 — weight-free classifiers need nothing
        """Load weights; raise ModelNotFoundError with one sentence when they are missing."""

    def prepare(self, images: Sequence[Any]) -> Any:
        """CPU-side preprocessing of a batch (runs ahead of :meth:`predict` on another thread)."""
        return list(images)

    @abc.abstractmethod
    def predict(self, prepared: Any) -> list[ImageResult]:
        """The model call on a prepared batch."""

    @classmethod
    def example_params(cls, workdir: Path) -> ClassifierParams:
        """Parameters of a tiny instance that runs offline in seconds (for contract tests and demos).

        ``workdir`` is an empty folder the example may build models or files in.
        """
        raise NotImplementedError(f"classifier {cls.type_name!r} provides no offline example")


# Installed packages add classifier types through the ``diffaudit.classifiers`` entry-point group.
CLASSIFIERS: Registry[type[Classifier]] = Registry("classifier", entry_point_group="diffaudit.classifiers")

register = CLASSIFIERS.register
classifier_class = CLASSIFIERS.get
available = CLASSIFIERS.available


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
