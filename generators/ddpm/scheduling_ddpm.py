"""Ancestral DDPM sampling (Ho et al. 2020, Algorithm 2), on any subset of the training timesteps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from generators.ddpm.forward_process import split_prediction
from generators.ddpm.noise import randn_per_image
from generators.ddpm.schedule import NoiseSchedule
from generators.ddpm.scheduling_base import Scheduler, SchedulerOutput


class DDPMScheduler(Scheduler):
    """x_{t-1} ~ N(posterior mean from predicted x_0, fixed-small or fixed-large variance)."""

    stochastic = True

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        prediction_type: Literal["epsilon", "sample", "v_prediction"] = "epsilon",
        variance_type: Literal["fixed_small", "fixed_large"] = "fixed_small",
        clip_sample: bool = True,
        clip_sample_range: float = 1.0,
        timestep_spacing: Literal["leading", "linspace", "trailing"] = "leading",
        steps_offset: int = 0,
    ) -> None:
        super().__init__(
            schedule, prediction_type=prediction_type, timestep_spacing=timestep_spacing, steps_offset=steps_offset
        )
        if variance_type not in ("fixed_small", "fixed_large"):
            raise ValueError(f"unknown variance_type {variance_type!r}; choose fixed_small or fixed_large")
        self.variance_type = variance_type
        self.clip_sample = clip_sample
        self.clip_sample_range = clip_sample_range

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generators: Sequence[torch.Generator] | None = None,
    ) -> SchedulerOutput:
        t = int(timestep)
        prev_t = self._previous_timestep(self._index(t))
        alpha_bar, alpha_bar_prev = self._alpha_bar(t), self._alpha_bar(prev_t)
        # With skipped steps, the one-step alpha is the ratio of the cumulative alphas.
        alpha = alpha_bar / alpha_bar_prev
        beta = 1.0 - alpha

        x0, _ = split_prediction(self.prediction_type, model_output, sample, alpha_bar)
        if self.clip_sample:
            x0 = x0.clamp(-self.clip_sample_range, self.clip_sample_range)
        # Posterior mean of q(x_{t-1} | x_t, x_0), eq. 7 of Ho et al.
        mean = (alpha_bar_prev**0.5 * beta / (1.0 - alpha_bar)) * x0 + (
            alpha**0.5 * (1.0 - alpha_bar_prev) / (1.0 - alpha_bar)
        ) * sample
        if t > 0:
            if generators is None:
                raise ValueError("DDPM sampling draws noise: pass one torch.Generator per image")
            if self.variance_type == "fixed_small":
                variance = max((1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * beta, 1e-20)
            else:
                variance = beta
            noise = randn_per_image(sample.shape, generators, device=sample.device, dtype=model_output.dtype)
            mean = mean + variance**0.5 * noise
        return SchedulerOutput(prev_sample=mean, pred_original_sample=x0)
