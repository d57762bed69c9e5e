"""Noise schedules: the betas of the forward process and every quantity derived from them.

Computed in float64 with range asserts, as in improved-diffusion's
``gaussian_diffusion.py``; samplers read Python floats from here, so the maths
stays exact whatever dtype the network runs in.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numpy as np
import torch

BetaScheduleKind = Literal["linear", "scaled_linear", "cosine"]

# diffusers' name for the cosine schedule; accepted so their scheduler configs load as they are.
_ALIASES = {"squaredcos_cap_v2": "cosine"}


def make_betas(
    kind: str, num_timesteps: int, *, beta_start: float = 1e-4, beta_end: float = 0.02, max_beta: float = 0.999
) -> np.ndarray:
    """Betas of a named schedule: linear (Ho et al.), scaled-linear (latent diffusion), cosine (Nichol & Dhariwal)."""
    kind = _ALIASES.get(kind, kind)
    if num_timesteps < 1:
        raise ValueError(f"num_timesteps must be at least 1, got {num_timesteps}")
    if kind == "linear":
        betas = np.linspace(beta_start, beta_end, num_timesteps, dtype=np.float64)
    elif kind == "scaled_linear":
        betas = np.linspace(beta_start**0.5, beta_end**0.5, num_timesteps, dtype=np.float64) ** 2
    elif kind == "cosine":

        def alpha_bar(t: float) -> float:
            return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

        steps = [(i / num_timesteps, (i + 1) / num_timesteps) for i in range(num_timesteps)]
        betas = np.array([min(1 - alpha_bar(t2) / alpha_bar(t1), max_beta) for t1, t2 in steps], dtype=np.float64)
    else:
        raise ValueError(f"unknown beta schedule {kind!r}; choose linear, scaled_linear or cosine")
    assert (betas > 0).all() and (betas <= 1).all(), "betas must lie in (0, 1]"
    return betas


@dataclasses.dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A discrete forward process q(x_t | x_0) and its posterior q(x_{t-1} | x_t, x_0), all float64 arrays."""

    betas: np.ndarray
    kind: str = "custom"
    beta_start: float | None = None
    beta_end: float | None = None

    def __post_init__(self) -> None:
        betas = np.asarray(self.betas, dtype=np.float64)
        assert betas.ndim == 1 and (betas > 0).all() and (betas <= 1).all(), "betas must be a 1-D array in (0, 1]"
        object.__setattr__(self, "betas", betas)
        alphas = 1.0 - betas
        alphas_cumprod = np.cumprod(alphas)
        alphas_cumprod_prev = np.append(1.0, alphas_cumprod[:-1])
        posterior_variance = betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod)
        derived = {
            "alphas": alphas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": np.sqrt(alphas_cumprod),
            "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - alphas_cumprod),
            # "fixed-small" variance (the true posterior variance, beta-tilde) ...
            "posterior_variance": posterior_variance,
            # ... whose log is clipped at t=0, where it is zero.
            "posterior_log_variance_clipped": np.log(np.append(posterior_variance[1], posterior_variance[1:])),
            # "fixed-large" variance (beta_t, with beta-tilde_1 at t=0 as in improved-diffusion).
            "fixed_large_variance": np.append(posterior_variance[1], betas[1:]),
            "posterior_mean_coef1": betas * np.sqrt(alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - alphas_cumprod),
        }
        assert (alphas_cumprod > 0).all() and (alphas_cumprod < 1).all()
        for name, value in derived.items():
            object.__setattr__(self, name, value)

    # Declared for type checkers; set in __post_init__.
    alphas: np.ndarray = dataclasses.field(init=False, repr=False)
    alphas_cumprod: np.ndarray = dataclasses.field(init=False, repr=False)
    alphas_cumprod_prev: np.ndarray = dataclasses.field(init=False, repr=False)
    sqrt_alphas_cumprod: np.ndarray = dataclasses.field(init=False, repr=False)
    sqrt_one_minus_alphas_cumprod: np.ndarray = dataclasses.field(init=False, repr=False)
    posterior_variance: np.ndarray = dataclasses.field(init=False, repr=False)
    posterior_log_variance_clipped: np.ndarray = dataclasses.field(init=False, repr=False)
    fixed_large_variance: np.ndarray = dataclasses.field(init=False, repr=False)
    posterior_mean_coef1: np.ndarray = dataclasses.field(init=False, repr=False)
    posterior_mean_coef2: np.ndarray = dataclasses.field(init=False, repr=False)

    @classmethod
    def make(
        cls, kind: str = "linear", num_timesteps: int = 1000, *, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> NoiseSchedule:
        """A named schedule; the defaults are Ho et al.'s (linear, 1e-4 to 0.02, 1000 steps)."""
        kind = _ALIASES.get(kind, kind)
        betas = make_betas(kind, num_timesteps, beta_start=beta_start, beta_end=beta_end)
        return cls(betas=betas, kind=kind, beta_start=beta_start, beta_end=beta_end)

    @property
    def num_timesteps(self) -> int:
        return len(self.betas)

    def config(self) -> dict:
        """A JSON-ready description from which :meth:`from_config` rebuilds this schedule."""
        if self.kind == "custom":
            return {"kind": "custom", "betas": self.betas.tolist()}
        return {
            "kind": self.kind,
            "num_timesteps": self.num_timesteps,
            "beta_start": self.beta_start,
            "beta_end": self.beta_end,
        }

    @classmethod
    def from_config(cls, config: dict) -> NoiseSchedule:
        if config.get("kind") == "custom":
            return cls(betas=np.asarray(config["betas"], dtype=np.float64))
        return cls.make(
            config.get("kind", "linear"),
            int(config.get("num_timesteps", 1000)),
            beta_start=float(config.get("beta_start", 1e-4)),
            beta_end=float(config.get("beta_end", 0.02)),
        )


def extract(values: np.ndarray, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``values[t]`` for a batch of timesteps, shaped to broadcast against ``like`` (B, 1, 1, ...)."""
    picked = torch.as_tensor(values, dtype=torch.float64)[t.detach().to("cpu", torch.long)]
    return picked.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))
