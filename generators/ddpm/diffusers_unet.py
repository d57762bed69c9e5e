"""Drive a diffusers ``UNet2DModel`` (Ho et al.'s CIFAR-10, CelebA-HQ, LSUN DDPMs) under our samplers."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generators.ddpm.schedule import NoiseSchedule


class ModelNotFound(LookupError):
    """A model is neither on disk nor downloadable; the message is one line that says how to get it."""


class DiffusersUNet(nn.Module):
    """Our denoiser interface, ``model(x, t, labels)``, around a diffusers ``UNet2DModel``."""

    def __init__(self, unet: nn.Module) -> None:
        super().__init__()
        self.unet = unet

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        size = self.unet.config.sample_size
        h, w = (size, size) if isinstance(size, int) else tuple(size)
        return (self.unet.config.in_channels, h, w)

    @property
    def num_classes(self) -> int | None:
        return self.unet.config.num_class_embeds

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.unet(x, t, class_labels=labels, return_dict=False)[0]


@dataclasses.dataclass(frozen=True)
class SamplerDefaults:
    """What a diffusers scheduler config says about how the model was trained and should be sampled."""

    schedule: NoiseSchedule
    prediction_type: str = "epsilon"
    variance_type: str = "fixed_small"
    clip_sample: bool = True


def sampler_defaults(scheduler_config: dict[str, Any] | None) -> SamplerDefaults:
    """Our schedule and sampler options from a diffusers ``scheduler_config.json`` (Ho et al.'s when absent)."""
    config = scheduler_config or {}
    if config.get("trained_betas") is not None:
        schedule = NoiseSchedule(betas=config["trained_betas"])
    else:
        schedule = NoiseSchedule.make(
            config.get("beta_schedule", "linear"),
            int(config.get("num_train_timesteps", 1000)),
            beta_start=float(config.get("beta_start", 1e-4)),
            beta_end=float(config.get("beta_end", 0.02)),
        )
    variance = config.get("variance_type") or "fixed_small"
    return SamplerDefaults(
        schedule=schedule,
        prediction_type=config.get("prediction_type", "epsilon"),
        variance_type=variance if variance in ("fixed_small", "fixed_large") else "fixed_small",
        clip_sample=bool(config.get("clip_sample", True)),
    )


def load_diffusers_unet(model: str, *, subfolder: str | None = None) -> tuple[DiffusersUNet, SamplerDefaults]:
    """A ``UNet2DModel`` and its scheduler settings from a hub id or a local folder (a pipeline or a bare UNet)."""
    import diffusers

    if subfolder is None and (Path(model) / "unet").is_dir():
        subfolder = "unet"
    try:
        with warnings.catch_warnings():
            # huggingface_hub's deprecation notice about an argument diffusers passes is noise to our users.
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            unet = diffusers.UNet2DModel.from_pretrained(model, subfolder=subfolder)
    except (OSError, ValueError) as exc:
        if not Path(model).exists():
            raise ModelNotFound(
                f"model {model!r} is not on disk and could not be downloaded; fetch it with "
                f"`huggingface-cli download {model}` or point HF_HOME at a cache that holds it"
            ) from exc
        raise ModelNotFound(f"{model!r} holds no diffusers UNet2DModel: {exc}".splitlines()[0]) from exc
    scheduler_config = None
    for folder in ("scheduler", None) if subfolder else (None, "scheduler"):
        try:
            scheduler_config = dict(diffusers.DDPMScheduler.load_config(model, subfolder=folder))
            break
        except (OSError, ValueError):
            continue
    return DiffusersUNet(unet.eval()), sampler_defaults(scheduler_config)
