"""The project's own DDPM as a generator: our checkpoints or diffusers ``UNet2DModel`` DDPMs, under our samplers.

Unconditional DDPMs (Ho et al.'s CIFAR-10, CelebA-HQ, LSUN) ignore the probe item's prompt; a
class-conditional checkpoint takes its class from the item attribute named by ``class_attribute``
(a class index or one of the checkpoint's class names), sampled with classifier-free guidance.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from audit.core.constants import SANDBOX
from audit.core.device import pick_device, pick_dtype
from audit.core.errors import DiffauditError, ModelNotFoundError
from audit.core.records import ProbeItem
from generators.base import NON_FINITE, GeneratedImage, Generator, GeneratorParams, seed_with_prompt
from generators.registry import register

log = logging.getLogger(__name__)

SAMPLERS = ("ddpm", "ddim", "dpm_solver++")


def _sandbox_ddpm() -> Path:
    from generators.sandbox.models import DDPM_DIR

    return DDPM_DIR


# Checkpoints that ship with diffaudit, by the name a config gives as `model:`.
BUILTIN_MODELS = {"builtin:sandbox-ddpm": _sandbox_ddpm}


@dataclasses.dataclass(frozen=True)
class DDPMParams(GeneratorParams):
    """Parameters of the ``ddpm`` generator."""

    model: str = ""
    sampler: Literal["ddpm", "ddim", "dpm_solver++"] = "ddim"
    steps: int = 50
    eta: float = 0.0
    guidance: float = 1.0
    class_attribute: str = "class"
    # Seed each image's noise with (prompt, seed), not the seed alone: for a class-conditional model,
    # two prompts of one class (two templates of one occupation) then give different images.
    seed_with_prompt: bool = False
    clip_sample: bool | None = None
    # Which training timesteps the sampler visits (None: each sampler's diffusers default). "trailing"
    # starts at the last one, pure noise, as a model with a zero terminal SNR needs (Lin et al. 2023).
    timestep_spacing: Literal["leading", "linspace", "trailing"] | None = None
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    channels_last: bool = False
    compile: bool = False
    cuda_graph: bool = False
    batch_size: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if self.eta < 0:
            raise ValueError(f"eta must be non-negative, got {self.eta}")


@register
class DDPMGenerator(Generator):
    """A DDPM (ours or a diffusers UNet2DModel) sampled with our DDPM, DDIM or DPM-Solver++ scheduler."""

    type_name: ClassVar[str] = "ddpm"
    reads_prompt: ClassVar[bool] = False  # unconditional or class-conditional: the prompt is not an input
    Params: ClassVar[type[GeneratorParams]] = DDPMParams
    params: DDPMParams

    def image_domain(self) -> str:
        """The sandbox's own DDPM makes sandbox renders; any other checkpoint, generated images."""
        return SANDBOX if self.params.model == "builtin:sandbox-ddpm" else self.domain

    def __init__(self, params: GeneratorParams | None = None) -> None:
        super().__init__(params)
        self.denoiser: Any = None
        self.class_names: list[str] | None = None

    @classmethod
    def example_params(cls, workdir: Path, items: Sequence[ProbeItem] = (), seeds: Sequence[int] = ()) -> DDPMParams:
        """A random-weight 16×16 UNet checkpoint of ours, sampled in 2 DDIM steps on the CPU."""
        import torch

        from generators import ddpm

        torch.manual_seed(0)
        config = ddpm.UNetConfig(
            sample_size=16, base_channels=16, channel_mults=(1, 2), num_res_blocks=1, norm_groups=8
        )
        folder = Path(workdir) / "tiny-ddpm"
        trainer = ddpm.Trainer(ddpm.UNet(config), ddpm.NoiseSchedule.make(), ddpm.TrainingConfig(steps=0), device="cpu")
        trainer.save(folder)
        return DDPMParams(model=str(folder), steps=2, batch_size=2, device="cpu")

    def from_hub(self) -> bool:
        """A diffusers id is fetched; a built-in model or a folder on disk is not."""
        model = self.params.model
        return not (model.startswith("builtin:") or not model or Path(model).is_dir())

    def _load(self) -> None:
        from generators import ddpm

        model = self.params.model
        if not model:
            raise DiffauditError("generator.model: give a DDPM checkpoint folder or a diffusers UNet2DModel id or path")
        if model in BUILTIN_MODELS:
            model = str(BUILTIN_MODELS[model]())
        elif model.startswith("builtin:"):
            raise DiffauditError(f"generator.model: unknown built-in model {model!r} ({', '.join(BUILTIN_MODELS)})")
        if ddpm.is_checkpoint(model):
            loaded = ddpm.load_checkpoint(model)
            network, schedule = loaded.model, loaded.schedule
            prediction_type, clip_sample, variance_type = loaded.prediction_type, True, "fixed_small"
            self.class_names = loaded.class_names
            self._source = "checkpoint"
        else:
            import diffusers

            # Our progress bar counts images; diffusers' loading notices are noise here.
            diffusers.utils.logging.set_verbosity_error()
            try:
                network, defaults = ddpm.load_diffusers_unet(model)
            except ddpm.ModelNotFound as exc:
                raise ModelNotFoundError(str(exc)) from exc
            schedule, prediction_type = defaults.schedule, defaults.prediction_type
            clip_sample, variance_type = defaults.clip_sample, defaults.variance_type
            self._source = "diffusers"
        if self.params.clip_sample is not None:
            clip_sample = self.params.clip_sample
        try:
            device = pick_device(self.params.device)
            options = ddpm.SamplingOptions(
                device=device,
                dtype=pick_dtype(self.params.dtype, device),
                channels_last=self.params.channels_last,
                compile=self.params.compile,
                cuda_graph=self.params.cuda_graph,
            )
            self.denoiser = ddpm.PreparedDenoiser(network, options)
        except ValueError as exc:
            raise DiffauditError(f"generator: {exc}") from exc
        self.scheduler = self._scheduler(schedule, prediction_type, clip_sample, variance_type)

    def _scheduler(self, schedule: Any, prediction_type: str, clip_sample: bool, variance_type: str) -> Any:
        from generators import ddpm

        spacing = {} if self.params.timestep_spacing is None else {"timestep_spacing": self.params.timestep_spacing}
        if self.params.sampler == "ddpm":
            return ddpm.DDPMScheduler(
                schedule,
                prediction_type=prediction_type,
                clip_sample=clip_sample,
                variance_type=variance_type,
                **spacing,
            )
        if self.params.sampler == "ddim":
            return ddpm.DDIMScheduler(
                schedule, prediction_type=prediction_type, clip_sample=clip_sample, eta=self.params.eta, **spacing
            )
        return ddpm.DPMSolverMultistepScheduler(schedule, prediction_type=prediction_type, **spacing)

    def check_items(self, items: Sequence[ProbeItem]) -> None:
        for item in items:
            self.class_label(item)

    def _image_seed(self, item: ProbeItem, seed: int) -> int:
        return seed_with_prompt(item.prompt, seed) if self.params.seed_with_prompt else seed

    def class_label(self, item: ProbeItem) -> int | None:
        """The class index ``item`` asks for, or None for an unconditional sample."""
        value = item.attributes.get(self.params.class_attribute)
        if value is None:
            return None
        num_classes = self.denoiser.num_classes
        if not num_classes:
            raise DiffauditError(
                f"item {item.item_id} asks for {self.params.class_attribute}={value!r}, "
                f"but model {self.params.model!r} is unconditional"
            )
        if self.class_names and value in self.class_names:
            return self.class_names.index(value)
        if isinstance(value, str) and value.isdigit():
            value = int(value)  # suites written in YAML may quote class indices
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < num_classes:
            return value
        known = ", ".join(self.class_names) if self.class_names else f"0..{num_classes - 1}"
        raise DiffauditError(
            f"item {item.item_id}: {self.params.class_attribute}={value!r} is not a class of the model ({known})"
        )

    def _generate_batch(self, items: list[ProbeItem], rngs: list[Any]) -> list[Any]:
        import torch

        from generators import ddpm

        labels = None
        if self.denoiser.num_classes:
            null = self.denoiser.num_classes
            labels = torch.tensor([null if (c := self.class_label(i)) is None else c for i in items])
        else:
            for item in items:
                self.class_label(item)  # an unconditional model refuses an item that asks for a class

        # Out of memory propagates: the generator template halves the batch and retries.
        x = ddpm.sample(
            self.denoiser,
            self.scheduler,
            rngs,
            self.denoiser.sample_shape,
            num_inference_steps=self.params.steps,
            labels=labels,
            guidance_scale=self.params.guidance,
            null_label=self.denoiser.num_classes,
            device=self.denoiser.device,
        )
        finite = torch.isfinite(x.flatten(1)).all(dim=1).tolist()
        images = _to_pil(torch.nan_to_num(x))
        failed = GeneratedImage(None, {"error": NON_FINITE})
        return [image if ok else failed for image, ok in zip(images, finite, strict=True)]

    def record_meta(self) -> dict[str, Any]:
        if self.denoiser is None:
            return {}
        return {
            "model_format": self._source,
            "sampler": self.params.sampler,
            "scheduler": type(self.scheduler).__name__,
            "dtype": str(self.denoiser.dtype).removeprefix("torch."),
            "device": self.denoiser.device.type,
        }


def _to_pil(x: Any) -> list[Any]:
    """Images in [-1, 1] (N, C, H, W) as PIL images, rounded as diffusers' pipelines round them."""
    import torch
    from PIL import Image

    pixels = ((x.float().cpu() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
    pixels = pixels.permute(0, 2, 3, 1).numpy()
    if pixels.shape[-1] == 1:
        return [Image.fromarray(p[..., 0], mode="L") for p in pixels]
    return [Image.fromarray(p) for p in pixels]
