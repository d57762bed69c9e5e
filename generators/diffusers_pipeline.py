"""Any diffusers text-to-image pipeline, by hub id or local path, as a generator."""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path
from typing import Any, ClassVar, Literal

from audit.errors import DiffauditError, ModelNotFoundError
from audit.records import ProbeItem
from generators.base import Generator, GeneratorParams
from generators.registry import register
from generators.tiny_pipeline import BUILTIN_NAME, builtin_tiny_sd_path

log = logging.getLogger(__name__)

_DTYPES = {"float32": "float32", "float16": "float16", "bfloat16": "bfloat16"}


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
    safety_checker: bool = False
    batch_size: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")


def _pick_device(requested: str) -> str:
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _pick_dtype(requested: str, device: str) -> Any:
    import torch

    if requested != "auto":
        return getattr(torch, _DTYPES[requested])
    return torch.float16 if device in ("cuda", "mps") else torch.float32


@register
class DiffusersGenerator(Generator):
    """A diffusers ``DiffusionPipeline`` (Stable Diffusion and its kin) from the Hub or disk."""

    type_name: ClassVar[str] = "diffusers"
    Params: ClassVar[type[GeneratorParams]] = DiffusersParams
    params: DiffusersParams

    def __init__(self, params: GeneratorParams | None = None) -> None:
        super().__init__(params)
        self.pipeline: Any = None
        self.device = "cpu"

    def _resolved_model(self) -> str:
        if self.params.model == BUILTIN_NAME:
            return str(builtin_tiny_sd_path())
        return self.params.model

    def _load(self) -> None:
        import diffusers
        import transformers

        # Our progress bar counts images; the libraries' loading bars and notices are noise.
        for library in (diffusers, transformers):
            library.utils.logging.set_verbosity_error()
            library.utils.logging.disable_progress_bar()
        self.device = _pick_device(self.params.device)
        dtype = _pick_dtype(self.params.dtype, self.device)
        model = self._resolved_model()
        kwargs: dict[str, Any] = {"torch_dtype": dtype}
        if not self.params.safety_checker:
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        try:
            with warnings.catch_warnings():
                # Newer diffusers renamed torch_dtype to dtype; the old name works on every version.
                warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
                pipeline = diffusers.DiffusionPipeline.from_pretrained(model, **kwargs)
        except (OSError, ValueError) as exc:
            if not Path(model).exists():
                raise ModelNotFoundError(
                    f"model {model!r} is not on disk and could not be downloaded; "
                    f"fetch it with `huggingface-cli download {model}` or point HF_HOME "
                    "at a cache that holds it"
                ) from exc
            raise DiffauditError(f"model {model!r} could not be loaded: {exc}".splitlines()[0]) from exc
        if not hasattr(pipeline, "text_encoder") and not hasattr(pipeline, "text_encoder_2"):
            raise DiffauditError(f"model {model!r} is a {type(pipeline).__name__}, not a text-to-image pipeline")
        if self.params.scheduler:
            scheduler_cls = getattr(diffusers, self.params.scheduler, None)
            if scheduler_cls is None or not hasattr(scheduler_cls, "from_config"):
                raise DiffauditError(f"unknown diffusers scheduler {self.params.scheduler!r}")
            pipeline.scheduler = scheduler_cls.from_config(pipeline.scheduler.config)
        pipeline.set_progress_bar_config(disable=True)
        self.pipeline = pipeline.to(self.device)
        self._dtype = str(dtype).removeprefix("torch.")

    def _generate_batch(self, items: list[ProbeItem], rngs: list[Any]) -> list[Any]:
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
            guidance_scale=self.params.guidance,
            generator=rngs,
            output_type="pil",
            **kwargs,
        )
        return list(output.images)

    def record_meta(self) -> dict[str, Any]:
        if self.pipeline is None:
            return {}
        return {
            "pipeline": type(self.pipeline).__name__,
            "scheduler": type(self.pipeline.scheduler).__name__,
            "dtype": self._dtype,
            "device": self.device,
        }
