"""DPM-Solver++ (Lu et al. 2022), second-order multistep ("2M"), a deterministic sampler for few steps."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from generators.ddpm.forward_process import split_prediction
from generators.ddpm.schedule import NoiseSchedule
from generators.ddpm.scheduling_base import Scheduler, SchedulerOutput
from generators.ddpm.timestep_spacing import spaced_timesteps


class DPMSolverMultistepScheduler(Scheduler):
    """Data-prediction multistep solver in log-SNR time; first order at the first and last step."""

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        prediction_type: Literal["epsilon", "sample", "v_prediction"] = "epsilon",
        solver_order: Literal[1, 2] = 2,
        timestep_spacing: Literal["leading", "linspace", "trailing"] = "linspace",
    ) -> None:
        super().__init__(schedule, prediction_type=prediction_type, timestep_spacing=timestep_spacing)
        if solver_order not in (1, 2):
            raise ValueError(f"solver_order must be 1 or 2, got {solver_order}")
        self.solver_order = solver_order
        self.sigmas = np.empty(0)
        self._previous_x0: torch.Tensor | None = None
        self._step_index = 0

    def set_timesteps(self, num_inference_steps: int) -> None:
        T = self.schedule.num_timesteps
        # N + 1 points from T-1 down to 0, dropping 0 itself: the last step goes to sigma = 0.
        if self.timestep_spacing == "linspace":
            steps = np.linspace(0, T - 1, num_inference_steps + 1).round()[::-1][:-1].astype(np.int64)
        elif self.timestep_spacing == "leading":
            steps = (np.arange(0, num_inference_steps + 1) * (T // (num_inference_steps + 1))).round()[::-1][:-1]
            steps = steps.astype(np.int64)
        else:
            steps = spaced_timesteps(T, num_inference_steps, "trailing")
        abar = self.schedule.alphas_cumprod
        # sigma is the noise-to-signal ratio sqrt((1 - abar) / abar), interpolated at the timesteps.
        sigmas = np.interp(steps, np.arange(T), np.sqrt((1.0 - abar) / abar))
        self.sigmas = np.append(sigmas, 0.0)
        self.timesteps = torch.from_numpy(steps.copy())
        self.num_inference_steps = len(steps)
        self._previous_x0 = None
        self._step_index = 0

    @staticmethod
    def _alpha_sigma(sigma: float) -> tuple[float, float, float]:
        """(alpha_t, sigma_t, lambda_t) of the variance-preserving process at noise-to-signal ratio ``sigma``."""
        alpha = 1.0 / math.sqrt(sigma**2 + 1.0)
        lam = -math.log(sigma) if sigma > 0 else math.inf
        return alpha, sigma * alpha, lam

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generators: Sequence[torch.Generator] | None = None,
    ) -> SchedulerOutput:
        i = self._index(timestep)
        if i != self._step_index:
            raise RuntimeError(f"DPM-Solver++ steps must run in order: expected step {self._step_index}, got {i}")
        alpha_s, sigma_s, lambda_s = self._alpha_sigma(float(self.sigmas[i]))
        alpha_t, sigma_t, lambda_t = self._alpha_sigma(float(self.sigmas[i + 1]))
        x0, _ = split_prediction(self.prediction_type, model_output, sample, alpha_s**2)

        last = i == len(self.timesteps) - 1
        if last:
            # sigma = 0 at the end: the update is the predicted clean sample itself.
            prev = x0
        else:
            h = lambda_t - lambda_s
            phi = math.expm1(-h)  # exp(-h) - 1
            prev = (sigma_t / sigma_s) * sample - (alpha_t * phi) * x0
            if self.solver_order == 2 and self._previous_x0 is not None:
                _, _, lambda_prev = self._alpha_sigma(float(self.sigmas[i - 1]))
                r = (lambda_s - lambda_prev) / h
                # Midpoint correction with the divided difference of the last two x0 predictions.
                prev = prev - (0.5 * alpha_t * phi / r) * (x0 - self._previous_x0)
        self._previous_x0 = x0
        self._step_index += 1
        return SchedulerOutput(prev_sample=prev.to(model_output.dtype), pred_original_sample=x0)
