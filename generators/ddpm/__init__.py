"""The project's own DDPM: schedules, forward process, objectives, samplers, guidance, networks, training.

A DDPM library that stands on its own: nothing here imports ``audit`` or ``probes``.

Train and sample::

    from generators import ddpm

    model = ddpm.UNet(ddpm.UNetConfig(sample_size=32, num_classes=10))
    trainer = ddpm.Trainer(model, ddpm.NoiseSchedule.make("linear"), ddpm.TrainingConfig(steps=50_000), out_dir="ckpt")
    trainer.fit(images, labels)                    # images in [-1, 1], (N, 3, 32, 32); resumable with Trainer.resume
    loaded = ddpm.load_checkpoint("ckpt")          # EMA weights, schedule and prediction type from config.json
    generators = [torch.Generator().manual_seed(seed) for seed in range(16)]   # one per image
    x = ddpm.sample(loaded.model, ddpm.DDIMScheduler(loaded.schedule), generators, (3, 32, 32),
                    num_inference_steps=50, labels=torch.arange(16) % 10, guidance_scale=2.0, null_label=10)

A diffusers DDPM (``google/ddpm-cifar10-32`` or a local folder) runs under the same samplers through
``model, defaults = ddpm.load_diffusers_unet(name)``.
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
    as_dtype,
    map_halving_on_oom,
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
    "as_dtype",
    "build_denoiser",
    "guided_output",
    "is_checkpoint",
    "load_checkpoint",
    "load_diffusers_unet",
    "make_betas",
    "map_halving_on_oom",
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
