"""Any diffusers text-to-image pipeline, by hub id or local path, as a generator.

Loading goes through ``AutoPipelineForText2Image``, so Stable Diffusion 1.x/2.x,
SDXL, SD-Turbo, PixArt, SD3 and newer families work without code per family.
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal

from audit.core.device import pick_device, pick_dtype
from audit.core.errors import DiffauditError, ModelNotFoundError
from audit.core.records import ProbeItem
from audit.core.run_store import package_versions
from generators.base import NON_FINITE, GeneratedImage, Generator, GeneratorParams
from generators.registry import register
from generators.tiny_pipeline import BUILTIN_NAME, build_tiny_sd, builtin_tiny_sd_path

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DiffusersParams(GeneratorParams):
    """Parameters of the ``diffusers`` generator."""

    model: str = BUILTIN_NAME
    steps: int = 25
    guidance: float = 7.5
    width: int | None = None
    height: int | None = None
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    scheduler: str | None = None
    # Off by default: we audit raw output. When on, its verdict is recorded per
    # image and the image is kept as the model made it.
    safety_checker: bool = False
    attention_slicing: bool = False
    vae_tiling: bool = False
    cpu_offload: Literal["none", "model", "sequential"] = "none"
    variant: str | None = None
    # Use an item's own `guidance` attribute where it has one (I2P publishes one per prompt).
    guidance_from_item: bool = False
    # A diffusers pipeline class to load the model with (for example StableDiffusionPipelineSafe, safe latent
    # diffusion); None: AutoPipelineForText2Image picks the model's own. Options are passed to every call.
    pipeline: str | None = None
    pipeline_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    batch_size: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        for side in ("width", "height"):
            value = getattr(self, side)
            if value is not None and (value < 8 or value % 8):
                raise ValueError(f"{side} must be a positive multiple of 8, got {value}")


def _supported_pipelines() -> set[str]:
    from diffusers.pipelines.auto_pipeline import AUTO_TEXT2IMAGE_PIPELINES_MAPPING

    return {cls.__name__ for cls in AUTO_TEXT2IMAGE_PIPELINES_MAPPING.values()}


def _one_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


@register
class DiffusersGenerator(Generator):
    """A diffusers text-to-image pipeline (Stable Diffusion and its kin) from the Hub or disk."""

    type_name: ClassVar[str] = "diffusers"
    Params: ClassVar[type[GeneratorParams]] = DiffusersParams
    params: DiffusersParams

    def __init__(self, params: GeneratorParams | None = None) -> None:
        super().__init__(params)
        self.pipeline: Any = None
        self.device = "cpu"
        self._meta: dict[str, Any] = {}
        self._checker: Any = None
        self._feature_extractor: Any = None

    @classmethod
    def example_params(cls, workdir: Path, items: Any = (), seeds: Any = ()) -> DiffusersParams:
        return DiffusersParams(model=str(build_tiny_sd(workdir / "tiny-sd")), steps=2, batch_size=2)

    def from_hub(self) -> bool:
        return not (self.params.model == BUILTIN_NAME or Path(self.params.model).is_dir())

    def _resolved_model(self) -> str:
        if self.params.model == BUILTIN_NAME:
            return str(builtin_tiny_sd_path())
        return self.params.model

    def _pipeline_class_name(self, model: str) -> str:
        """Read model_index.json (from disk or the cache) before loading any weights."""
        from diffusers import DiffusionPipeline

        try:
            config = DiffusionPipeline.load_config(model)
        except (OSError, ValueError) as exc:
            if Path(model).exists():
                raise DiffauditError(
                    f"model {model!r} is not a diffusers pipeline folder (no readable model_index.json)"
                ) from exc
            raise ModelNotFoundError(
                f"model {model!r} is not on disk and could not be downloaded; "
                f"fetch it with `huggingface-cli download {model}` or point HF_HOME "
                "at a cache that holds it"
            ) from exc
        return str(config.get("_class_name", "(unknown)"))

    def _load(self) -> None:
        import diffusers
        import transformers

        # Our progress bar counts images; the libraries' loading bars and notices are noise.
        for library in (diffusers, transformers):
            library.utils.logging.set_verbosity_error()
            library.utils.logging.disable_progress_bar()
        model = self._resolved_model()
        class_name = self._pipeline_class_name(model)
        loader = self._pipeline_loader()
        if self.params.pipeline is None and class_name not in _supported_pipelines():
            hint = " (use generator type `ddpm` for unconditional DDPMs)" if "DDPM" in class_name else ""
            raise DiffauditError(f"model {model!r} is a {class_name}, which is not a text-to-image pipeline{hint}")
        try:
            self.device = pick_device(self.params.device)
        except ValueError as exc:
            raise DiffauditError(f"generator.device: {exc}") from None
        dtype = pick_dtype(self.params.dtype, self.device)
        kwargs: dict[str, Any] = {"torch_dtype": dtype}
        if self.params.variant:
            kwargs["variant"] = self.params.variant
        try:
            with warnings.catch_warnings():
                # Newer diffusers renamed torch_dtype to dtype; the old name works on every version.
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipeline = loader.from_pretrained(model, **kwargs)
        except OSError as exc:
            raise ModelNotFoundError(
                f"model {model!r} is incomplete on disk ({_one_line(str(exc))}); "
                f"fetch it again with `huggingface-cli download {model}`"
            ) from exc
        self._configure(pipeline)
        # Facts recorded with every image, gathered once (version look-ups read package metadata).
        self._meta = {
            "pipeline": type(self.pipeline).__name__,
            "scheduler": type(self.pipeline.scheduler).__name__,
            "dtype": str(dtype).removeprefix("torch."),
            "device": self.device,
            "versions": package_versions(("diffusers", "torch", "transformers")),
        }

    def _pipeline_loader(self) -> Any:
        """The class that loads the model: the one named by ``pipeline``, else AutoPipelineForText2Image."""
        import diffusers

        if self.params.pipeline is None:
            return diffusers.AutoPipelineForText2Image
        cls = getattr(diffusers, self.params.pipeline, None)
        if not (isinstance(cls, type) and issubclass(cls, diffusers.DiffusionPipeline)):
            raise DiffauditError(
                f"generator.pipeline: diffusers {diffusers.__version__} has no pipeline class {self.params.pipeline!r}"
            )
        return cls

    def _configure(self, pipeline: Any) -> None:
        import diffusers

        if self.params.scheduler:
            scheduler_cls = getattr(diffusers, self.params.scheduler, None)
            if not isinstance(scheduler_cls, type) or not hasattr(scheduler_cls, "from_config"):
                raise DiffauditError(f"unknown diffusers scheduler {self.params.scheduler!r}")
            pipeline.scheduler = scheduler_cls.from_config(pipeline.scheduler.config)
        # The checker must never black out images: we run it ourselves, after generation.
        self._checker = getattr(pipeline, "safety_checker", None) if self.params.safety_checker else None
        self._feature_extractor = getattr(pipeline, "feature_extractor", None)
        if self.params.safety_checker and self._checker is None:
            log.warning("safety_checker: true, but %s has no safety checker", type(pipeline).__name__)
        if hasattr(pipeline, "safety_checker"):
            pipeline.safety_checker = None
        pipeline.set_progress_bar_config(disable=True)
        if self.params.attention_slicing:
            pipeline.enable_attention_slicing()
        if self.params.vae_tiling:
            pipeline.vae.enable_tiling()
        if self.params.cpu_offload != "none":
            try:
                metadata.version("accelerate")
            except metadata.PackageNotFoundError:
                raise DiffauditError("cpu_offload needs the accelerate package: pip install accelerate") from None
            if self.device != "cuda":
                raise DiffauditError(f"cpu_offload needs a CUDA device, but the device is {self.device}")
            if self.params.cpu_offload == "model":
                pipeline.enable_model_cpu_offload()
            else:
                pipeline.enable_sequential_cpu_offload()
            self.pipeline = pipeline
        else:
            self.pipeline = pipeline.to(self.device)
        if self._checker is not None:
            self._checker.to(self.device)

    def _generate_batch(self, items: list[ProbeItem], rngs: list[Any]) -> list[Any]:
        import numpy as np

        negatives = [item.negative_prompt for item in items]
        kwargs: dict[str, Any] = {}
        if any(negatives):
            kwargs["negative_prompt"] = [n or "" for n in negatives]
        if self.params.width:
            kwargs["width"] = self.params.width
        if self.params.height:
            kwargs["height"] = self.params.height
        output = self.pipeline(
            prompt=[item.prompt for item in items],
            num_inference_steps=self.params.steps,
            guidance_scale=self._guidance_for(items[0]),  # one per batch: see _batch_key
            generator=rngs,
            # Floats, not PIL: a NaN would be silently cast to a black image on the way to uint8.
            output_type="np",
            **kwargs,
            **self.params.pipeline_options,
        )
        images: list[Any] = []
        for pixels in output.images:
            if np.isfinite(pixels).all():
                # The rounding of diffusers' own numpy_to_pil, so the bytes are those of output_type="pil".
                images.extend(self.pipeline.numpy_to_pil(pixels[None]))
            else:
                images.append(None)
        made = [image for image in images if image is not None]
        flags = iter(self._safety_flags(made) if self._checker is not None and made else [])
        return [
            GeneratedImage(None, {"error": NON_FINITE})
            if image is None
            else GeneratedImage(image, {"safety_checker_flag": next(flags)} if self._checker is not None else {})
            for image in images
        ]

    def _guidance_for(self, item: ProbeItem) -> float:
        own = item.attributes.get("guidance") if self.params.guidance_from_item else None
        return float(own) if own is not None else self.params.guidance

    def _batch_key(self, item: ProbeItem) -> float:
        return self._guidance_for(item)

    def _safety_flags(self, images: list[Any]) -> list[bool]:
        """The pipeline's safety-checker verdict per image; the images themselves stay untouched."""
        import numpy as np
        import torch

        pixels = self._feature_extractor(images, return_tensors="pt").pixel_values
        arrays = np.stack([np.asarray(image, dtype=np.float32) / 255.0 for image in images])
        with torch.inference_mode():
            # The checker returns blacked-out copies; we keep only its flags.
            _, flags = self._checker(images=arrays, clip_input=pixels.to(self.device, self._checker.dtype))
        return [bool(flag) for flag in flags]

    def record_meta(self) -> dict[str, Any]:
        return self._meta
