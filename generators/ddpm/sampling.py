"""The sampling loop: noise, set timesteps, then network → scheduler.step until the data end of the chain."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from generators.ddpm.guidance import Denoiser, guided_output
from generators.ddpm.noise import randn_per_image
from generators.ddpm.scheduling_base import Scheduler


@torch.inference_mode()
def sample(
    denoiser: Denoiser,
    scheduler: Scheduler,
    generators: Sequence[torch.Generator],
    shape: Sequence[int],
    *,
    num_inference_steps: int,
    labels: torch.Tensor | None = None,
    guidance_scale: float = 1.0,
    null_label: int | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Draw ``len(generators)`` samples of per-sample ``shape``; image i uses ``generators[i]`` alone."""
    x = randn_per_image((len(generators), *shape), generators, device=device, dtype=dtype)
    if labels is not None:
        labels = labels.to(device)
    scheduler.set_timesteps(num_inference_steps)
    for t in scheduler.timesteps:
        output = guided_output(denoiser, x, t.to(device), labels, guidance_scale=guidance_scale, null_label=null_label)
        x = scheduler.step(output, t, x, generators).prev_sample
    return x
