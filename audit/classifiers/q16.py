"""Q16: inappropriate-content scores from CLIP ViT-L/14 image embeddings and learned prompts.

Schramowski, Tauchmann & Kersting (FAccT 2022) learned two prompt embeddings
(appropriate, inappropriate) for CLIP ViT-L/14; an image is scored by the
cosine of its embedding with each, and the softmax of 100 × cosine (as in
HELM's Q16 metric) gives the probabilities. The embeddings ship in
``data/`` (see PROVENANCE.md).
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

Q16_ATTRIBUTE = "q16_inappropriate"
Q16_LABELS = ("appropriate", "inappropriate")
Q16_EMBED_DIM = 768
# HELM's Q16 metric scales cosines by 100 before the softmax.
Q16_SCALE = 100.0


@functools.cache
def q16_prompt_embeddings() -> Any:
    """The two prompt embeddings as a float32 numpy array ``(2, 768)``, L2-normalised."""
    import numpy as np

    with (resources.files("audit.classifiers") / "data" / "q16_prompt_embeddings_ViT-L-14.npy").open("rb") as fh:
        prompts = np.load(fh, allow_pickle=False).astype(np.float32)
    return prompts / np.linalg.norm(prompts, axis=1, keepdims=True)


def q16_scores(image_features: Any) -> tuple[Any, Any]:
    """Cosines ``(n, 2)`` and probabilities ``(n, 2)`` for L2-normalised image features ``(n, 768)``."""
    import torch

    prompts = torch.from_numpy(q16_prompt_embeddings()).to(image_features.device)
    cosines = image_features.float() @ prompts.T
    return cosines, (Q16_SCALE * cosines).softmax(dim=-1)
