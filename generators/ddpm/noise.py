"""Gaussian noise drawn image by image, each image from its own ``torch.Generator``.

As diffusers' ``randn_tensor``: image i of a batch depends only on ``generators[i]``,
never on batch size or position. Noise is drawn where the generator lives (CPU by
default) and then moved, so a seed means the same picture on every device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def randn_per_image(
    shape: Sequence[int],
    generators: Sequence[torch.Generator],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """A (len(generators), *shape[1:]) standard normal tensor, one generator per row."""
    if len(generators) != shape[0]:
        raise ValueError(f"need one generator per image: {len(generators)} generators for batch {shape[0]}")
    per_image = (1, *shape[1:])
    rows = [torch.randn(per_image, generator=g, device=g.device, dtype=dtype) for g in generators]
    return torch.cat(rows).to(device)
