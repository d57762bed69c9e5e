"""The training objective: uniform timesteps, noise, and the mean-squared error on epsilon, x_0 or v."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from generators.ddpm.forward_process import PREDICTION_TYPES, q_sample, velocity
from generators.ddpm.guidance import Denoiser
from generators.ddpm.schedule import NoiseSchedule


def sample_timesteps(batch: int, num_timesteps: int, generator: torch.Generator) -> torch.Tensor:
    """Uniform timesteps in [0, num_timesteps), the L_simple weighting of Ho et al."""
    return torch.randint(0, num_timesteps, (batch,), generator=generator, device=generator.device)


def training_target(
    prediction_type: str, schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """What the network should output for x_t = q_sample(x0, t, noise)."""
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    if prediction_type == "v_prediction":
        return velocity(schedule, x0, t, noise)
    raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {', '.join(PREDICTION_TYPES)}")


def training_loss(
    model: Denoiser,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    generator: torch.Generator,
    *,
    prediction_type: str = "epsilon",
    labels: torch.Tensor | None = None,
    label_dropout: float = 0.0,
    null_label: int | None = None,
) -> torch.Tensor:
    """One Monte-Carlo estimate of the simplified DDPM loss on a batch; all randomness from ``generator``.

    With ``label_dropout`` > 0 a fraction of labels is replaced by ``null_label``, which teaches
    the same network the unconditional model that classifier-free guidance needs.
    """
    batch = x0.shape[0]
    t = sample_timesteps(batch, schedule.num_timesteps, generator)
    noise = torch.randn(x0.shape, generator=generator, device=generator.device, dtype=x0.dtype)
    t, noise = t.to(x0.device), noise.to(x0.device)
    if labels is not None and label_dropout > 0:
        if null_label is None:
            raise ValueError("label_dropout needs the null label of a class-conditional model")
        drop = torch.rand(batch, generator=generator, device=generator.device).to(x0.device) < label_dropout
        labels = torch.where(drop, torch.full_like(labels, null_label), labels)
    xt = q_sample(schedule, x0, t, noise)
    prediction = model(xt, t, labels)
    return F.mse_loss(prediction.float(), training_target(prediction_type, schedule, x0, t, noise).float())
