"""The project's own DDPM: schedules, forward process, objectives, samplers, guidance, networks, training.

A DDPM library that stands on its own: nothing here imports ``audit`` or ``probes``.
"""

from generators.ddpm.diffusers_unet import DiffusersUNet, ModelNotFound, SamplerDefaults, load_diffusers_unet
from generators.ddpm.forward_process import PREDICTION_TYPES, q_posterior_mean_variance, q_sample, split_prediction
from generators.ddpm.guidance import guided_output
from generators.ddpm.noise import randn_per_image
from generators.ddpm.sampling import sample
from generators.ddpm.schedule import NoiseSchedule, make_betas
from generators.ddpm.scheduling_base import Scheduler, SchedulerOutput
from generators.ddpm.scheduling_ddim import DDIMScheduler
from generators.ddpm.scheduling_ddpm import DDPMScheduler
from generators.ddpm.scheduling_dpm_solver import DPMSolverMultistepScheduler
from generators.ddpm.timestep_spacing import spaced_timesteps

__all__ = [
    "PREDICTION_TYPES",
    "DDIMScheduler",
    "DDPMScheduler",
    "DPMSolverMultistepScheduler",
    "DiffusersUNet",
    "ModelNotFound",
    "NoiseSchedule",
    "SamplerDefaults",
    "Scheduler",
    "SchedulerOutput",
    "guided_output",
    "load_diffusers_unet",
    "make_betas",
    "q_posterior_mean_variance",
    "q_sample",
    "randn_per_image",
    "sample",
    "spaced_timesteps",
    "split_prediction",
]
