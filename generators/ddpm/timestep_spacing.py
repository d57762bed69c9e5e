"""Which training timesteps a sampler visits when it runs fewer steps than the model was trained with.

The three spacings of Lin et al. (2023, Table 2), with the same rounding as diffusers,
so our samplers visit exactly the timesteps a diffusers scheduler does.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

TimestepSpacing = Literal["leading", "linspace", "trailing"]


def spaced_timesteps(
    num_train_timesteps: int, num_inference_steps: int, spacing: str = "leading", *, steps_offset: int = 0
) -> np.ndarray:
    """Descending int64 timesteps, ``num_inference_steps`` of them, in [0, num_train_timesteps)."""
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(f"num_inference_steps must be in 1..{num_train_timesteps}, got {num_inference_steps}")
    n, T = num_inference_steps, num_train_timesteps
    if spacing == "linspace":
        steps = np.linspace(0, T - 1, n).round()[::-1]
    elif spacing == "leading":
        steps = (np.arange(0, n) * (T // n)).round()[::-1] + steps_offset
    elif spacing == "trailing":
        steps = np.round(np.arange(T, 0, -T / n)) - 1
    else:
        raise ValueError(f"unknown timestep spacing {spacing!r}; choose leading, linspace or trailing")
    return steps.copy().astype(np.int64)
