"""DDIM sampling (Song et al. 2021): deterministic at eta 0, ancestral-DDPM-like at eta 1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from generators.ddpm.forward_process import split_prediction
from generators.ddpm.noise import randn_per_image
from generators.ddpm.schedule import NoiseSchedule
from generators.ddpm.scheduling_base import Scheduler, SchedulerOutput


class DDIMScheduler(Scheduler):
    """x_{t-1} = sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z, sigma = eta * sigma_DDPM."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        prediction_type: Literal["epsilon", "sample", "v_prediction"] = "epsilon",
        eta: float = 0.0,
        clip_sample: bool = True,
        clip_sample_range: float = 1.0,
        set_alpha_to_one: bool = True,
        use_clipped_model_output: bool = False,
        timestep_spacing: Literal["leading", "linspace", "trailing"] = "leading",
        steps_offset: int = 0,
    ) -> None:
        super().__init__(
            schedule, prediction_type=prediction_type, timestep_spacing=timestep_spacing, steps_offset=steps_offset
        )
        if eta < 0:
            raise ValueError(f"eta must be non-negative, got {eta}")
        self.eta = eta
        self.clip_sample = clip_sample
        self.clip_sample_range = clip_sample_range
        # The clean end of the chain: abar = 1 (a true x_0), or abar_0 as in the original code.
        self.final_alpha_bar = 1.0 if set_alpha_to_one else float(schedule.alphas_cumprod[0])
        self.use_clipped_model_output = use_clipped_model_output

    @property
    def stochastic(self) -> bool:  # type: ignore[override]
        return self.eta > 0

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generators: Sequence[torch.Generator] | None = None,
    ) -> SchedulerOutput:
        if self.num_inference_steps is None:
            raise RuntimeError("call set_timesteps() before step()")
        t = int(timestep)
        # Uniform stride, as in the paper's sub-sequence tau (and diffusers).
        prev_t = t - self.schedule.num_timesteps // self.num_inference_steps
        alpha_bar = self._alpha_bar(t)
        alpha_bar_prev = self._alpha_bar(prev_t, final=self.final_alpha_bar)

        x0, eps = split_prediction(self.prediction_type, model_output, sample, alpha_bar)
        if self.clip_sample:
            x0 = x0.clamp(-self.clip_sample_range, self.clip_sample_range)
        if self.use_clipped_model_output:
            eps = (sample - alpha_bar**0.5 * x0) / (1.0 - alpha_bar) ** 0.5
        # Eq. 16 of Song et al.: the DDPM posterior standard deviation, scaled by eta.
        variance = (1.0 - alpha_bar_prev) / (1.0 - alpha_bar) * (1.0 - alpha_bar / alpha_bar_prev)
        sigma = self.eta * variance**0.5
        prev = alpha_bar_prev**0.5 * x0 + (1.0 - alpha_bar_prev - sigma**2) ** 0.5 * eps
        if self.eta > 0:
            if generators is None:
                raise ValueError("DDIM with eta > 0 draws noise: pass one torch.Generator per image")
            noise = randn_per_image(sample.shape, generators, device=sample.device, dtype=model_output.dtype)
            prev = prev + sigma * noise
        return SchedulerOutput(prev_sample=prev, pred_original_sample=x0)
