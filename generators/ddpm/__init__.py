"""The project's own DDPM: schedules, forward process, objectives, samplers, guidance, networks, training.

A DDPM library that stands on its own: nothing here imports ``audit`` or ``probes``.
"""

from generators.ddpm.architectures import ARCHITECTURES, architecture_config, build_denoiser
from generators.ddpm.checkpoint import LoadedCheckpoint, is_checkpoint, load_checkpoint
from generators.ddpm.diffusers_unet import (
    DiffusersUNet,
    ModelNotFound,
    SamplerDefaults,
    load_diffusers_unet,
    sampler_defaults,
)
from generators.ddpm.fast_sampling import (
    PreparedDenoiser,
    SamplingOptions,
    map_halving_on_oom,
    pick_device,
    pick_dtype,
)
from generators.ddpm.forward_process import PREDICTION_TYPES, q_posterior_mean_variance, q_sample, split_prediction
from generators.ddpm.guidance import guided_output
from generators.ddpm.mlp import MLPConfig, MLPDenoiser
from generators.ddpm.noise import randn_per_image
from generators.ddpm.objective import sample_timesteps, training_loss, training_target
from generators.ddpm.sampling import sample
from generators.ddpm.schedule import NoiseSchedule, make_betas
from generators.ddpm.scheduling_base import Scheduler, SchedulerOutput
from generators.ddpm.scheduling_ddim import DDIMScheduler
from generators.ddpm.scheduling_ddpm import DDPMScheduler
from generators.ddpm.scheduling_dpm_solver import DPMSolverMultistepScheduler
from generators.ddpm.timestep_spacing import spaced_timesteps
from generators.ddpm.trainer import Trainer, TrainingConfig
from generators.ddpm.unet import UNet, UNetConfig

__all__ = [
    "ARCHITECTURES",
    "PREDICTION_TYPES",
    "DDIMScheduler",
    "DDPMScheduler",
    "DPMSolverMultistepScheduler",
    "DiffusersUNet",
    "LoadedCheckpoint",
    "MLPConfig",
    "MLPDenoiser",
    "ModelNotFound",
    "NoiseSchedule",
    "PreparedDenoiser",
    "SamplerDefaults",
    "SamplingOptions",
    "Scheduler",
    "SchedulerOutput",
    "Trainer",
    "TrainingConfig",
    "UNet",
    "UNetConfig",
    "architecture_config",
    "build_denoiser",
    "guided_output",
    "is_checkpoint",
    "load_checkpoint",
    "load_diffusers_unet",
    "make_betas",
    "map_halving_on_oom",
    "pick_device",
    "pick_dtype",
    "q_posterior_mean_variance",
    "q_sample",
    "randn_per_image",
    "sample",
    "sample_timesteps",
    "sampler_defaults",
    "spaced_timesteps",
    "split_prediction",
    "training_loss",
    "training_target",
]
