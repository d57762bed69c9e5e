"""What every sampler shares: ``set_timesteps()`` then ``step()``, returning a small dataclass."""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Sequence

import torch

from generators.ddpm.forward_process import PREDICTION_TYPES
from generators.ddpm.schedule import NoiseSchedule
from generators.ddpm.timestep_spacing import TimestepSpacing, spaced_timesteps


@dataclasses.dataclass
class SchedulerOutput:
    """The sample one step closer to the data, and the step's guess at the clean sample."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor | None = None


class Scheduler(abc.ABC):
    """A reverse-process sampler over a :class:`NoiseSchedule`; call ``set_timesteps`` before ``step``."""

    #: whether ``step`` draws fresh noise (and so needs one generator per image).
    stochastic: bool = False

    def __init__(
        self,
        schedule: NoiseSchedule,
        *,
        prediction_type: str = "epsilon",
        timestep_spacing: TimestepSpacing = "leading",
        steps_offset: int = 0,
    ) -> None:
        if prediction_type not in PREDICTION_TYPES:
            choices = ", ".join(PREDICTION_TYPES)
            raise ValueError(f"unknown prediction_type {prediction_type!r}; choose one of {choices}")
        self.schedule = schedule
        self.prediction_type = prediction_type
        self.timestep_spacing = timestep_spacing
        self.steps_offset = steps_offset
        self.timesteps: torch.Tensor = torch.empty(0, dtype=torch.long)
        self.num_inference_steps: int | None = None

    def set_timesteps(self, num_inference_steps: int) -> None:
        """Choose the timesteps to visit (spaced as ``timestep_spacing`` says) and reset any state left."""
        steps = spaced_timesteps(
            self.schedule.num_timesteps, num_inference_steps, self.timestep_spacing, steps_offset=self.steps_offset
        )
        self.timesteps = torch.from_numpy(steps)
        self.num_inference_steps = num_inference_steps

    @abc.abstractmethod
    def step(
        self,
        model_output: torch.Tensor,
        timestep: int | torch.Tensor,
        sample: torch.Tensor,
        generators: Sequence[torch.Generator] | None = None,
    ) -> SchedulerOutput:
        """Move ``sample`` from ``timestep`` to the next timestep given the network's output."""

    def _index(self, timestep: int | torch.Tensor) -> int:
        if self.num_inference_steps is None:
            raise RuntimeError("call set_timesteps() before step()")
        hits = (self.timesteps == int(timestep)).nonzero()
        if len(hits) == 0:
            raise ValueError(f"timestep {int(timestep)} is not one of this sampler's timesteps")
        return int(hits[0, 0])

    def _previous_timestep(self, index: int) -> int:
        return int(self.timesteps[index + 1]) if index + 1 < len(self.timesteps) else -1

    def _alpha_bar(self, timestep: int, *, final: float = 1.0) -> float:
        """Cumulative alpha at ``timestep``; ``final`` stands for the clean end of the chain (t = -1)."""
        return float(self.schedule.alphas_cumprod[timestep]) if timestep >= 0 else final
