"""The forward (noising) process and the conversions between what a network may predict.

Named after the paper: ``q_sample`` draws x_t ~ q(x_t | x_0); ``q_posterior_mean_variance``
is q(x_{t-1} | x_t, x_0). A network predicts epsilon, x_0 or v (Salimans & Ho);
the three conversions below turn any of them into x_0 and epsilon.
"""

from __future__ import annotations

from typing import Literal

import torch

from generators.ddpm.schedule import NoiseSchedule, extract

PredictionType = Literal["epsilon", "sample", "v_prediction"]
PREDICTION_TYPES: tuple[str, ...] = ("epsilon", "sample", "v_prediction")


def q_sample(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise."""
    return (
        extract(schedule.sqrt_alphas_cumprod, t, x0) * x0
        + extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * noise
    )


def q_posterior_mean_variance(
    schedule: NoiseSchedule, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0)."""
    mean = extract(schedule.posterior_mean_coef1, t, xt) * x0 + extract(schedule.posterior_mean_coef2, t, xt) * xt
    variance = extract(schedule.posterior_variance, t, xt)
    log_variance = extract(schedule.posterior_log_variance_clipped, t, xt)
    return mean, variance, log_variance


def velocity(schedule: NoiseSchedule, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """The v-prediction target: v = sqrt(abar_t) noise - sqrt(1 - abar_t) x_0."""
    return (
        extract(schedule.sqrt_alphas_cumprod, t, x0) * noise
        - extract(schedule.sqrt_one_minus_alphas_cumprod, t, x0) * x0
    )


def split_prediction(
    prediction_type: str, model_output: torch.Tensor, sample: torch.Tensor, alpha_bar: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted x_0, predicted epsilon) from a network output at a noise level with cumulative alpha ``alpha_bar``."""
    a, s = alpha_bar**0.5, (1.0 - alpha_bar) ** 0.5
    if prediction_type == "epsilon":
        return (sample - s * model_output) / a, model_output
    if prediction_type == "sample":
        return model_output, (sample - a * model_output) / s
    if prediction_type == "v_prediction":
        return a * sample - s * model_output, a * model_output + s * sample
    raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {', '.join(PREDICTION_TYPES)}")
