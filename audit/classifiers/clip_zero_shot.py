"""CLIP zero-shot classifiers: every attribute of a label set from one image encode.

The image is encoded once; its normalised embedding is compared with the
class embeddings of all attributes in one matrix product, and each
attribute's slice goes through a softmax scaled by the model's own logit
scale. An attribute abstains (``unknown``) when its top probability is below
its threshold, or when it needs a person and the person attribute does not
say ``yes``. With ``q16: true`` the same embedding also feeds Q16.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.classifiers.base import Classifier, ClassifierParams, ImageResult, register
from audit.classifiers.clip_model import LoadedClip, ensure_weights, load_clip, own_weights_folder
from audit.classifiers.label_set import LabelSet, load_label_set
from audit.classifiers.q16 import Q16_ATTRIBUTE, Q16_EMBED_DIM, Q16_LABELS, q16_scores
from audit.classifiers.zero_shot import zero_shot_weights
from audit.core.cache import cache_dir
from audit.core.constants import GENERATED, PHOTOGRAPHS, SANDBOX
from audit.core.errors import ConfigError
from audit.core.records import stable_hash

# The default matches HEIM and the Stable Diffusion safety checker. The lighter
# choice for CPU-only machines is ViT-B-32 / "laion2b_s34b_b79k" (4.4 against
# 81 GFLOPs per 224-px image); see the package docstring.
DEFAULT_MODEL = "ViT-L-14"
DEFAULT_PRETRAINED = "openai"


@dataclasses.dataclass(frozen=True)
class ClipParams(ClassifierParams):
    """Which open_clip model and label set; ``pretrained: null`` means random weights (tests only).

    ``model`` may also be a model that brings its own weights: ``builtin:sandbox-clip`` or an
    open_clip ``local-dir`` folder (``open_clip_config.json`` + safetensors); ``pretrained`` is then ignored.
    """

    model: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    label_set: str | None = "default"
    q16: bool = False
    cache: bool = True

    def __post_init__(self) -> None:
        if self.label_set is None and not self.q16:
            raise ValueError("label_set: null leaves nothing to score; give a label set or set q16: true")


@register
class ClipClassifier(Classifier):
    """Perceived attributes by CLIP zero-shot (prompt-ensembled, abstaining), optionally Q16."""

    type_name = "clip"
    Params = ClipParams
    params: ClipParams
    # Web-scale CLIPs were trained on photographs and web images, generated ones among them.
    domain = (PHOTOGRAPHS, GENERATED)

    def __init__(self, params: ClipParams | None = None, *, device: str = "cpu") -> None:
        super().__init__(params, device=device)
        self.label_set: LabelSet | None = (
            load_label_set(self.params.label_set) if self.params.label_set is not None else None
        )
        self.clip: LoadedClip | None = None
        self.class_weights: Any = None  # [dim, all classes of all attributes]
        self.cache_hits: list[bool] = []
        self._slices: list[tuple[str, slice]] = []

    def image_domain(self) -> tuple[str, ...]:
        """A CLIP trained on the sandbox's drawn portraits (``builtin:sandbox-clip``) knows only those."""
        if self.params.model == "builtin:sandbox-clip":
            return (SANDBOX,)
        return self.domain

    @property
    def classifier_id(self) -> str:
        if own_weights_folder(self.params.model) is not None:  # the model's own weights; `pretrained` is ignored
            return f"{self.type_name}:{self.params.model.removeprefix('builtin:')}"
        return f"{self.type_name}:{self.params.model}/{self.params.pretrained or 'random'}"

    def libraries(self) -> Sequence[str]:
        return ("torch", "open_clip_torch")

    def version(self) -> dict[str, Any]:
        info = super().version()
        if self.label_set is not None:
            info["label_set"] = {
                "name": self.label_set.name,
                "hash": stable_hash(dataclasses.asdict(self.label_set)),
            }
        if self.clip is not None:
            info["weights_fingerprint"] = self.clip.fingerprint
        return info

    @classmethod
    def example_params(cls, workdir: Path) -> ClipParams:
        """A two-layer random-weight open_clip model, registered under a name of its own; no cache on disk."""
        return ClipParams(model=_tiny_clip_config(workdir, embed_dim=32), pretrained=None, cache=False)

    # -- loading ---------------------------------------------------------------
    def from_hub(self) -> bool:
        """A pretrained tag (or an ``hf-hub:`` model) is fetched; built-in models, folders and files are not."""
        model, pretrained = self.params.model, self.params.pretrained
        if model.startswith("builtin:") or model.startswith("local-dir:") or Path(model).is_dir():
            return False
        return model.startswith("hf-hub:") or not (pretrained is None or Path(pretrained).is_file())

    def check_available(self) -> None:
        ensure_weights(self.params.model, self.params.pretrained)

    def _load(self) -> None:
        import torch

        self.clip = load_clip(self.params.model, self.params.pretrained, self.device)
        if self.params.q16 and self.clip.embed_dim != Q16_EMBED_DIM:
            raise ConfigError(
                f"q16: the Q16 prompts are {Q16_EMBED_DIM}-dimensional (CLIP ViT-L-14); "
                f"model {self.params.model!r} embeds into {self.clip.embed_dim}"
            )
        blocks, start = [], 0
        self._slices = []
        self.cache_hits = []
        for name, spec in self.label_set.attributes.items() if self.label_set else []:
            built = zero_shot_weights(
                self.clip,
                spec.classnames,
                spec.templates,
                cache_dir=cache_dir() if self.params.cache else None,
                device=self.device,
            )
            self.cache_hits.append(built.cache_hit)
            blocks.append(built.weights.float())
            self._slices.append((name, slice(start, start + len(spec.classes))))
            start += len(spec.classes)
        self.class_weights = torch.cat(blocks, dim=1) if blocks else None
        # open_clip clamps the learned temperature at 100 during training; do the same.
        self.logit_scale = float(self.clip.model.logit_scale.exp().clamp(max=100).item())

    # -- scoring ---------------------------------------------------------------
    def prepare(self, images: Sequence[Any]) -> Any:
        import torch

        self.load()
        return torch.stack([self.clip.preprocess(image.convert("RGB")) for image in images])

    def encode(self, pixels: Any) -> Any:
        """L2-normalised image embeddings ``(n, dim)`` in float32."""
        pixels = pixels.to(self.device, non_blocking=True)
        return self.clip.model.encode_image(pixels, normalize=True).float()

    def predict(self, prepared: Any) -> list[ImageResult]:
        return self.results_from_features(self.encode(prepared))

    def results_from_features(self, features: Any) -> list[ImageResult]:
        """Scores for every attribute from normalised image embeddings (one matrix product for all)."""
        vectors = features.float().cpu().numpy()
        results = [ImageResult(embedding=vectors[i]) for i in range(features.shape[0])]
        if self.class_weights is not None:
            logits = self.logit_scale * (features @ self.class_weights.to(features.device))
            probs = {name: logits[:, part].softmax(dim=-1).cpu().numpy() for name, part in self._slices}
            self._add_attributes(results, probs)
        if self.params.q16:
            cosines, q16_probs = q16_scores(features)
            cosines, q16_probs = cosines.cpu().numpy(), q16_probs.cpu().numpy()
            for i, result in enumerate(results):
                result.add_distribution(Q16_ATTRIBUTE, dict(zip(Q16_LABELS, q16_probs[i], strict=True)), abstain=False)
                for label, cosine in zip(Q16_LABELS, cosines[i], strict=True):
                    result.measurements[f"q16_cosine_{label}"] = float(cosine)
        return results

    def _add_attributes(self, results: list[ImageResult], probs: dict[str, Any]) -> None:
        label_set = self.label_set
        assert label_set is not None
        for i, result in enumerate(results):
            person_seen = True
            if label_set.person_attribute is not None:
                spec = label_set.attributes[label_set.person_attribute]
                row = probs[label_set.person_attribute][i]
                top = int(row.argmax())
                person_seen = spec.labels[top] == label_set.person_label and row[top] >= spec.threshold
            for name, spec in label_set.attributes.items():
                row = probs[name][i]
                abstain = bool(row.max() < spec.threshold) or (spec.requires_person and not person_seen)
                result.add_distribution(name, dict(zip(spec.labels, row.tolist(), strict=True)), abstain=abstain)


def _tiny_clip_config(workdir: Path, *, embed_dim: int) -> str:
    """Write a tiny open_clip model config into ``workdir`` and register it; returns its model name."""
    import json

    import open_clip

    name = f"diffaudit-example-clip-{embed_dim}"
    config = {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    }
    folder = Path(workdir) / "model_configs"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(config), encoding="utf-8")
    open_clip.add_model_config(folder)
    return name


@dataclasses.dataclass(frozen=True)
class Q16Params(ClassifierParams):
    """Q16 needs CLIP ViT-L-14 (openai), the model its prompts were learned for."""

    model: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    cache: bool = True


@register
class Q16Classifier(ClipClassifier):
    """Q16 inappropriate-content scores alone (use ``clip`` with ``q16: true`` to share the encode)."""

    type_name = "q16"
    Params = Q16Params  # type: ignore[assignment]

    def __init__(self, params: Q16Params | None = None, *, device: str = "cpu") -> None:
        params = params if params is not None else Q16Params()
        clip_params = ClipParams(
            model=params.model, pretrained=params.pretrained, label_set=None, q16=True, cache=params.cache
        )
        super().__init__(clip_params, device=device)
        self.q16_params = params

    def version(self) -> dict[str, Any]:
        info = super().version()
        info["params"] = dataclasses.asdict(self.q16_params)
        return info

    @classmethod
    def example_params(cls, workdir: Path) -> Q16Params:
        """A random-weight open_clip model as wide as the Q16 prompts (768)."""
        return Q16Params(model=_tiny_clip_config(workdir, embed_dim=768), pretrained=None, cache=False)
