"""Any model given as a Python object: a ``module:callable`` or an entry point that builds it.

The ``python`` generator type audits models that no registry names — GANs,
in-house networks, unconditional DDPMs of other libraries — with every
guarantee of the generator template (:mod:`generators.base`): one
``torch.Generator`` per image, calls made at the fixed batch shape, out of
memory halving the batch, failed images as records, resume.

``model`` names a *factory*: ``"package.module:function"`` (an attribute path
after the colon), or ``"entry-point:NAME"`` for a factory an installed
distribution declares in the ``diffaudit.models`` entry-point group. It is
called once, with ``options`` as keyword arguments, and returns the model:

- ``conditioning: latent`` (GANs, unconditional models): ``model(z)`` with ``z``
  a float tensor ``(N, *latent_shape)`` on ``device``, image ``i``'s latent
  drawn from a standard normal by its own seeded generator — so the seed alone
  decides the image, and **the prompt text is ignored** (each record says so).
  Audit such models with a suite of one empty prompt (``unconditional``).
- ``conditioning: prompt``: ``model(prompts, generators)`` with the batch's
  prompts and one CPU ``torch.Generator`` per image, from which all of the
  image's randomness must come.

The model returns a tensor ``(N, C, H, W)`` with values in ``value_range``
(``[-1, 1]`` for a tanh output, ``[0, 1]`` or ``[0, 255]``), or a list of PIL
images. A ``torch.nn.Module`` is put in eval mode (batch norm then uses its
running statistics, so an image does not depend on its batch) and moved to
``device``. A model with a ``model_info`` mapping (package, weights, digest) has it
recorded with every image (``model_package``, ...). A factory whose weights never come from the model hub
(shipped in its package, read from disk) says so with an attribute ``from_hub = False``; without it the run
assumes it may fetch and checks first that the hub can be reached (audit.core.hub).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, Literal

from audit.core.device import pick_device
from audit.core.errors import DiffauditError, ModelNotFoundError
from audit.core.records import ProbeItem
from generators.base import NON_FINITE, GeneratedImage, Generator, GeneratorParams
from generators.registry import register

MODEL_ENTRY_POINTS = "diffaudit.models"
ENTRY_POINT_PREFIX = "entry-point:"
PROMPT_IGNORED = "ignored: an unconditional model; the image is decided by the seed's latent alone"
VALUE_RANGES = {"-1..1": (-1.0, 1.0), "0..1": (0.0, 1.0), "0..255": (0.0, 255.0)}


@dataclasses.dataclass(frozen=True)
class PythonModelParams(GeneratorParams):
    """Parameters of the ``python`` generator."""

    model: str = ""  # "package.module:factory" or "entry-point:NAME"
    options: dict[str, Any] = dataclasses.field(default_factory=dict)  # keyword arguments of the factory
    conditioning: Literal["latent", "prompt"] = "latent"
    latent_shape: list[int] = dataclasses.field(default_factory=lambda: [100])
    value_range: Literal["-1..1", "0..1", "0..255"] = "-1..1"
    device: Literal["auto", "cpu", "cuda", "mps"] = "cpu"
    batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.latent_shape or any(d < 1 for d in self.latent_shape):
            raise ValueError(f"latent_shape must be a list of positive sizes, got {self.latent_shape}")


@register
class PythonModelGenerator(Generator):
    """A model built by a Python factory (``module:callable`` or entry point), fed seeded latents or prompts."""

    type_name: ClassVar[str] = "python"
    Params: ClassVar[type[GeneratorParams]] = PythonModelParams
    params: PythonModelParams

    def __init__(self, params: GeneratorParams | None = None) -> None:
        super().__init__(params)
        self.model: Any = None
        self.device = "cpu"
        self._source: str | None = None

    @classmethod
    def example_params(
        cls, workdir: Path, items: Sequence[ProbeItem] = (), seeds: Sequence[int] = ()
    ) -> PythonModelParams:
        """The project's tiny random-weight DCGAN (16×16), built by ``generators.tiny_gan:tiny_dcgan``."""
        return PythonModelParams(
            model="generators.tiny_gan:tiny_dcgan", latent_shape=[8, 1, 1], batch_size=4, device="cpu"
        )

    def _load(self) -> None:
        factory, self._source = load_factory(self.params.model)
        try:
            model = factory(**self.params.options)
        except DiffauditError:
            raise
        except Exception as exc:  # noqa: BLE001 — someone else's factory: one line, naming it
            raise DiffauditError(
                f"generator.model: {self.params.model!r} failed to build the model: {type(exc).__name__}: {exc}"
            ) from exc
        if not callable(model):
            raise DiffauditError(f"generator.model: {self.params.model!r} returned {type(model).__name__}, not a model")
        try:
            self.device = pick_device(self.params.device)
        except ValueError as exc:
            raise DiffauditError(f"generator.device: {exc}") from None
        import torch

        if isinstance(model, torch.nn.Module):
            model = model.eval().to(self.device)
        self.model = model

    def from_hub(self) -> bool:
        """False only when the factory says ``from_hub = False``; a factory that cannot be found yet is assumed to
        fetch (loading it names the error)."""
        try:
            factory, _ = load_factory(self.params.model)
        except DiffauditError:
            return True
        return getattr(factory, "from_hub", True) is not False

    def _generate_batch(self, items: list[ProbeItem], rngs: list[Any]) -> list[Any]:
        import torch

        with torch.inference_mode():
            if self.params.conditioning == "latent":
                shape = tuple(self.params.latent_shape)
                # Drawn on the CPU, one generator per image: the latent is the same on every device and batch.
                z = torch.stack([torch.randn(shape, generator=rng) for rng in rngs]).to(self.device)
                output = self.model(z)
            else:
                output = self.model([item.prompt for item in items], rngs)
        if isinstance(output, torch.Tensor):
            return _tensor_images(output, VALUE_RANGES[self.params.value_range])
        output = list(output)
        if len(output) != len(items):
            raise DiffauditError(f"model {self.params.model!r} returned {len(output)} images for {len(items)} inputs")
        return output

    def record_meta(self) -> dict[str, Any]:
        if self.model is None:
            return {}
        meta: dict[str, Any] = {
            "model_source": self._source,
            "model_class": type(self.model).__qualname__,
            "conditioning": self.params.conditioning,
            "device": self.device,
        }
        info = getattr(self.model, "model_info", None)
        if isinstance(info, dict):
            meta.update({f"model_{key}": str(value) for key, value in info.items()})
        if self.params.conditioning == "latent":
            meta["latent"] = f"standard normal {list(self.params.latent_shape)} from the image's seed"
            meta["prompt"] = PROMPT_IGNORED
        return meta


def load_factory(name: str) -> tuple[Any, str]:
    """The factory ``name`` points to, and where it comes from (module, or entry point and distribution)."""
    if not name:
        raise DiffauditError(
            "generator.model: give the model's factory as 'package.module:callable' or 'entry-point:NAME'"
        )
    if name.startswith(ENTRY_POINT_PREFIX):
        return _entry_point_factory(name.removeprefix(ENTRY_POINT_PREFIX))
    module_name, sep, attribute = name.partition(":")
    if not sep or not module_name or not attribute:
        raise DiffauditError(f"generator.model: {name!r} is not 'package.module:callable' nor 'entry-point:NAME'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelNotFoundError(
            f"generator.model: cannot import {module_name!r} ({exc}); install the package that provides it"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise DiffauditError(f"generator.model: module {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise DiffauditError(f"generator.model: {name!r} is not callable")
    return target, _module_source(module_name)


def _entry_point_factory(entry_name: str) -> tuple[Any, str]:
    entries = {entry.name: entry for entry in metadata.entry_points(group=MODEL_ENTRY_POINTS)}
    if entry_name not in entries:
        known = ", ".join(sorted(entries)) or "none installed"
        raise ModelNotFoundError(
            f"generator.model: no entry point {entry_name!r} in group {MODEL_ENTRY_POINTS} ({known})"
        )
    entry = entries[entry_name]
    dist = getattr(entry, "dist", None)
    source = f"{entry.value} (entry point {entry_name!r}" + (f" of {dist.name} {dist.version})" if dist else ")")
    try:
        return entry.load(), source
    except Exception as exc:  # noqa: BLE001 — an import error of someone else's package is one line
        raise DiffauditError(
            f"generator.model: entry point {entry_name!r} ({entry.value}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc


def _module_source(module_name: str) -> str:
    """``module`` with the distribution and version that installed it, when one did."""
    top = module_name.split(".")[0]
    dists = metadata.packages_distributions().get(top, [])
    if not dists:
        return module_name
    return f"{module_name} ({dists[0]} {metadata.version(dists[0])})"


def _tensor_images(x: Any, value_range: tuple[float, float]) -> list[Any]:
    """A batch ``(N, C, H, W)`` as PIL images (rounded as diffusers rounds), NaN images as failed ones."""
    import torch
    from PIL import Image

    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise DiffauditError(f"the model returned a tensor of shape {tuple(x.shape)}, not (N, 1 or 3, H, W)")
    low, high = value_range
    x = x.detach().float().cpu()
    finite = torch.isfinite(x.flatten(1)).all(dim=1).tolist()
    scaled = ((torch.nan_to_num(x) - low) / (high - low)).clamp(0, 1)
    pixels = (scaled * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    images: list[Any] = []
    for p, ok in zip(pixels, finite, strict=True):
        if not ok:
            images.append(GeneratedImage(None, {"error": NON_FINITE}))
        else:
            images.append(Image.fromarray(p[..., 0], mode="L") if p.shape[-1] == 1 else Image.fromarray(p))
    return images
