"""A small MLP denoiser for low-dimensional data (2-D toy distributions, tabular features)."""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from generators.ddpm.unet import timestep_embedding


@dataclasses.dataclass(frozen=True)
class MLPConfig:
    """The architecture of an :class:`MLPDenoiser`; stored beside every checkpoint."""

    dim: int = 2
    hidden: int = 128
    depth: int = 3
    num_classes: int | None = None


class MLPDenoiser(nn.Module):
    """``model(x, t, labels) -> prediction`` for vectors: residual SiLU layers fed the time and class embedding."""

    def __init__(self, config: MLPConfig) -> None:
        super().__init__()
        self.config = config
        h = config.hidden
        self.time_mlp = nn.Sequential(nn.Linear(h, h), nn.SiLU(), nn.Linear(h, h))
        # One extra row: the null label for classifier-free guidance.
        self.class_emb = nn.Embedding(config.num_classes + 1, h) if config.num_classes else None
        self.inp = nn.Linear(config.dim, h)
        self.layers = nn.ModuleList([nn.Linear(h, h) for _ in range(config.depth)])
        self.out = nn.Linear(h, config.dim)

    @property
    def num_classes(self) -> int | None:
        return self.config.num_classes

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.config.dim,)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.config.hidden).to(x.dtype))
        if self.class_emb is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.config.num_classes, device=x.device, dtype=torch.long)
            emb = emb + self.class_emb(labels)
        h = self.inp(x)
        for layer in self.layers:
            h = h + layer(F.silu(h + emb))
        return self.out(F.silu(h))
