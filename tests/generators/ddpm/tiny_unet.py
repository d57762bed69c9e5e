"""The tiny UNet the DDPM tests share: 8×8 images, two resolutions, one residual block each."""

from __future__ import annotations

import torch

from generators.ddpm import UNet, UNetConfig


def tiny_unet_config(**overrides) -> UNetConfig:
    """The shared tiny shape; ``overrides`` change what a test needs (classes, attention)."""
    shape = dict(sample_size=8, base_channels=16, channel_mults=(1, 2), num_res_blocks=1, norm_groups=8)
    return UNetConfig(**(shape | overrides))


def tiny_unet(seed: int = 0, **overrides) -> UNet:
    """A randomly initialised (seeded) tiny UNet in eval mode."""
    torch.manual_seed(seed)
    return UNet(tiny_unet_config(**overrides)).eval()
