"""Loading open_clip models once per process, with one clear sentence when weights are missing.

``pretrained`` is an open_clip tag (``openai``, ``laion2b_s34b_b79k``, ...), a
path to a checkpoint file, or ``None`` for random weights (tests and
benchmarks). Random weights are drawn from a fixed seed so that two loads of
the same architecture are the same model.

A model that brings its own weights is named instead by a folder (open_clip's
``local-dir:`` layout: ``open_clip_config.json`` and a safetensors file), by
``local-dir:PATH``, or by a built-in name (``builtin:sandbox-clip``, the
in-domain CLIP of the sandbox world that ships in ``models/``); ``pretrained``
is then ignored.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

from audit.core.errors import ConfigError, ModelNotFoundError

# Seed for random-weight models: the same architecture always gives the same weights.
RANDOM_WEIGHTS_SEED = 0
# Models that ship inside the package, by the name a config gives as `model:`.
BUILTIN_MODELS = {"builtin:sandbox-clip": "models/sandbox-clip"}


def own_weights_folder(model_name: str) -> Path | None:
    """The folder of a model that brings its own weights (built-in name, ``local-dir:`` or a folder), else None."""
    if model_name in BUILTIN_MODELS:
        from importlib import resources

        return Path(str(resources.files("audit.classifiers") / BUILTIN_MODELS[model_name]))
    if model_name.startswith("local-dir:"):
        return Path(model_name.removeprefix("local-dir:"))
    if model_name.startswith("builtin:"):
        raise ConfigError(f"unknown built-in CLIP model {model_name!r} (built-in: {', '.join(BUILTIN_MODELS)})")
    path = Path(model_name)
    return path if path.is_dir() else None


def _check_folder(folder: Path, model_name: str) -> None:
    if not (folder / "open_clip_config.json").is_file() or not any(folder.glob("*.safetensors")):
        raise ModelNotFoundError(
            f"CLIP model {model_name!r}: {folder} holds no open_clip_config.json and safetensors weights"
        )


@dataclasses.dataclass(frozen=True)
class LoadedClip:
    """An open_clip model in eval mode with its image transform, tokenizer and weight fingerprint."""

    model: Any
    preprocess: Any
    tokenizer: Any
    fingerprint: str
    model_name: str
    pretrained: str | None

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if hasattr(self.model, "text_projection") else -1


def load_clip(model_name: str, pretrained: str | None, device: str = "cpu") -> LoadedClip:
    """The open_clip model ``model_name`` with weights ``pretrained`` on ``device`` (cached per process)."""
    return _load_clip(model_name, pretrained, device)


@functools.lru_cache(maxsize=4)
def _load_clip(model_name: str, pretrained: str | None, device: str) -> LoadedClip:
    import open_clip
    import torch

    folder = own_weights_folder(model_name)
    if folder is not None:
        _check_folder(folder, model_name)
        model_name, pretrained = f"local-dir:{folder}", None
    elif not model_name.startswith("hf-hub:") and model_name not in open_clip.list_models():
        raise ConfigError(
            f"open_clip has no model {model_name!r}; see open_clip.list_models() for the names (for example ViT-B-32)"
        )
    if pretrained is not None and not Path(pretrained).is_file():
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        if pretrained not in tags:
            raise ConfigError(
                f"open_clip model {model_name!r} has no pretrained tag {pretrained!r} "
                f"(known tags: {', '.join(tags) or 'none'}; or give a checkpoint file path)"
            )
    try:
        # open_clip reports on the root logger ("initialized randomly", download errors);
        # our own error below says what to do, so its messages are held back meanwhile.
        logging.disable(logging.ERROR)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_WEIGHTS_SEED)
            model, _, preprocess = open_clip.create_model_and_transforms(
                model_name, pretrained=pretrained, device=device, weights_only=True
            )
    except RuntimeError as exc:
        if "download" in str(exc).lower() or "hub" in str(exc).lower() or "offline" in str(exc).lower():
            raise missing_weights(model_name, pretrained) from exc
        raise
    finally:
        logging.disable(logging.NOTSET)
    model.eval()
    tokenizer = open_clip.get_tokenizer(model_name)
    return LoadedClip(
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        fingerprint=weights_fingerprint(model),
        model_name=model_name,
        pretrained=pretrained,
    )


def missing_weights(model_name: str, pretrained: str | None) -> ModelNotFoundError:
    """The one sentence that says which open_clip weights are missing and how to get them."""
    command = f"import open_clip; open_clip.create_model('{model_name}', pretrained='{pretrained}')"
    return ModelNotFoundError(
        f"open_clip weights {model_name}/{pretrained} are not on disk and could not be downloaded; "
        f'fetch them once online with `python -c "{command}"` or set `pretrained:` to a local checkpoint file'
    )


def ensure_weights(model_name: str, pretrained: str | None) -> None:
    """Fetch (or find in the cache) the weights of a pretrained tag without building the model.

    Lets a run fail before it generates anything when the scoring weights are missing.
    """
    folder = own_weights_folder(model_name)
    if folder is not None:
        _check_folder(folder, model_name)
        return
    if pretrained is None or Path(pretrained).is_file():
        return
    import open_clip
    from open_clip.pretrained import download_pretrained

    cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        return  # an unknown tag: load_clip reports it with the known ones
    try:
        logging.disable(logging.ERROR)
        download_pretrained(cfg)
    except Exception as exc:  # noqa: BLE001 — any failure to fetch means the weights are not usable
        raise missing_weights(model_name, pretrained) from exc
    finally:
        logging.disable(logging.NOTSET)


def weights_fingerprint(model: Any) -> str:
    """A short hash of the text-side weights that decide the text embeddings.

    Hashing every weight would cost seconds for ViT-L; the final layer norm,
    projection and positional embedding differ between any two checkpoints.
    """
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        if name.startswith(("ln_final", "text_projection", "positional_embedding", "logit_scale", "text.proj")):
            tensor = state[name].detach().float().cpu().contiguous()
            digest.update(name.encode())
            digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()[:16]
