"""The project's compact UNet (Ho et al. 2020): residual blocks, group norm, sinusoidal time embedding,
self-attention at low resolution, and an optional class embedding for classifier-free guidance.

With ``patch_size`` p > 1 the network folds each p×p patch of pixels into channels before its first
convolution and unfolds them after its last (pixel unshuffle / shuffle, as in Hoogeboom et al.'s
"simple diffusion"): the UNet then works at 1/p of the resolution, about p² times cheaper, which is
what lets a small model train on a CPU in minutes."""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn


@dataclasses.dataclass(frozen=True)
class UNetConfig:
    """The architecture of a :class:`UNet`; stored beside every checkpoint."""

    in_channels: int = 3
    sample_size: int = 32
    base_channels: int = 64
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.0
    num_classes: int | None = None
    norm_groups: int = 32
    patch_size: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "channel_mults", tuple(self.channel_mults))
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))
        if self.patch_size < 1 or self.sample_size % self.patch_size:
            raise ValueError(
                f"patch_size {self.patch_size} must be at least 1 and divide sample_size {self.sample_size}"
            )
        if (self.sample_size // self.patch_size) % 2 ** (len(self.channel_mults) - 1):
            raise ValueError(
                f"sample_size {self.sample_size} / patch_size {self.patch_size} must halve "
                f"{len(self.channel_mults) - 1} times"
            )


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, as in the Transformer and Ho et al."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(channels, groups), channels)


class ResBlock(nn.Module):
    """Two 3×3 convolutions with the time (and class) embedding added between them, and a skip."""

    def __init__(self, cin: int, cout: int, emb_dim: int, dropout: float, groups: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(cin, groups), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2, self.conv2 = _norm(cout, groups), nn.Conv2d(cout, cout, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttentionBlock(nn.Module):
    """Single-head self-attention over all pixels, with a residual connection."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = _norm(channels, groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(-1, -2).reshape(b, c, h, w))


class UNet(nn.Module):
    """A denoiser ``model(x, t, labels) -> prediction`` for images of ``config.sample_size``."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        ch, groups = config.base_channels, config.norm_groups
        emb_dim = 4 * ch
        self.time_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        # One extra row: the null label that classifier-free guidance trains and samples with.
        self.class_emb = nn.Embedding(config.num_classes + 1, emb_dim) if config.num_classes else None
        folded = config.in_channels * config.patch_size**2
        self.conv_in = nn.Conv2d(folded, ch, 3, padding=1)

        self.down = nn.ModuleList()
        # Attention resolutions count the network's own grid (sample_size / patch_size).
        skips, res, cin = [ch], config.sample_size // config.patch_size, ch
        for level, mult in enumerate(config.channel_mults):
            for _ in range(config.num_res_blocks):
                block = nn.ModuleList([ResBlock(cin, ch * mult, emb_dim, config.dropout, groups)])
                cin = ch * mult
                if res in config.attention_resolutions:
                    block.append(AttentionBlock(cin, groups))
                self.down.append(block)
                skips.append(cin)
            if level < len(config.channel_mults) - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(cin, cin, 3, stride=2, padding=1)]))
                skips.append(cin)
                res //= 2

        self.mid = nn.ModuleList(
            [
                ResBlock(cin, cin, emb_dim, config.dropout, groups),
                AttentionBlock(cin, groups),
                ResBlock(cin, cin, emb_dim, config.dropout, groups),
            ]
        )

        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(config.channel_mults))):
            for _ in range(config.num_res_blocks + 1):
                block = nn.ModuleList([ResBlock(cin + skips.pop(), ch * mult, emb_dim, config.dropout, groups)])
                cin = ch * mult
                if res in config.attention_resolutions:
                    block.append(AttentionBlock(cin, groups))
                self.up.append(block)
            if level > 0:
                self.up.append(
                    nn.ModuleList([nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cin, 3, padding=1)])
                )
                res *= 2
        self.norm_out = _norm(cin, groups)
        self.conv_out = nn.Conv2d(cin, folded, 3, padding=1)

    @property
    def num_classes(self) -> int | None:
        return self.config.num_classes

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.config.in_channels, self.config.sample_size, self.config.sample_size)

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels).to(x.dtype))
        if self.class_emb is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.config.num_classes, device=x.device, dtype=torch.long)
            emb = emb + self.class_emb(labels)
        p = self.config.patch_size
        h = self.conv_in(F.pixel_unshuffle(x, p) if p > 1 else x)
        hs = [h]
        for block in self.down:
            h = self._run_block(block, h, emb)
            hs.append(h)
        h = self._run_block(self.mid, h, emb)
        for block in self.up:
            if isinstance(block[0], ResBlock):
                h = torch.cat([h, hs.pop()], dim=1)
            h = self._run_block(block, h, emb)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return F.pixel_shuffle(out, p) if p > 1 else out

    @staticmethod
    def _run_block(block: nn.ModuleList, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in block:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
        return h
