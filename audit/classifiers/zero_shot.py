"""Zero-shot text classifiers built the open_clip way, cached on disk.

:func:`build_zero_shot_weights` follows open_clip's
``zero_shot_classifier.build_zero_shot_classifier``: every class name is put
into every template, encoded and L2-normalised; the template embeddings are
averaged per class and normalised again, giving a ``[dim, classes]`` matrix.
:func:`zero_shot_weights` caches that matrix as safetensors, keyed by model,
pretrained tag, a fingerprint of the weights, class names and templates, so a
change to any of them builds a new matrix.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audit.core.records import stable_hash

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ZeroShotWeights:
    """A ``[dim, classes]`` matrix of class embeddings, and whether it came from the cache."""

    weights: Any
    cache_path: Path | None
    cache_hit: bool


def build_zero_shot_weights(
    model: Any, tokenizer: Any, classnames: Sequence[str], templates: Sequence[str], *, device: str = "cpu"
) -> Any:
    """Class embeddings: encode classnames × templates, mean over templates, L2-normalise; ``[dim, classes]``."""
    import torch

    texts = [template.format(name) for name in classnames for template in templates]
    with torch.inference_mode():
        tokens = tokenizer(texts).to(device)
        embeddings = model.encode_text(tokens, normalize=True).float()
        embeddings = embeddings.reshape(len(classnames), len(templates), -1).mean(dim=1)
        embeddings = embeddings / embeddings.norm(dim=1, keepdim=True)
    return embeddings.T.contiguous()


def cache_key(
    *, model_name: str, pretrained: str | None, fingerprint: str, classnames: Sequence[str], templates: Sequence[str]
) -> str:
    return stable_hash(
        {
            "model": model_name,
            "pretrained": pretrained,
            "weights": fingerprint,
            "classnames": list(classnames),
            "templates": list(templates),
        },
        length=24,
    )


def zero_shot_weights(
    loaded: Any,
    classnames: Sequence[str],
    templates: Sequence[str],
    *,
    cache_dir: Path | None,
    device: str = "cpu",
) -> ZeroShotWeights:
    """The class-embedding matrix for a :class:`~audit.classifiers.clip_model.LoadedClip`, from cache if there."""
    from safetensors.torch import load_file, save_file

    if cache_dir is None:
        weights = build_zero_shot_weights(loaded.model, loaded.tokenizer, classnames, templates, device=device)
        return ZeroShotWeights(weights=weights, cache_path=None, cache_hit=False)
    key = cache_key(
        model_name=loaded.model_name,
        pretrained=loaded.pretrained,
        fingerprint=loaded.fingerprint,
        classnames=classnames,
        templates=templates,
    )
    path = Path(cache_dir) / "zero_shot" / f"{key}.safetensors"
    if path.is_file():
        try:
            weights = load_file(str(path), device=device)["weights"]
            return ZeroShotWeights(weights=weights, cache_path=path, cache_hit=True)
        except Exception as exc:  # noqa: BLE001 — a damaged cache file is rebuilt, not fatal
            log.warning("zero-shot cache %s is unreadable (%s); rebuilding it", path, exc)
    weights = build_zero_shot_weights(loaded.model, loaded.tokenizer, classnames, templates, device=device)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({"weights": weights.detach().cpu().contiguous()}, str(tmp))
    tmp.replace(path)
    return ZeroShotWeights(weights=weights, cache_path=path, cache_hit=False)
