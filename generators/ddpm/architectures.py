"""Our denoiser networks by name, so a checkpoint's config.json rebuilds the network it was saved from."""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from generators.ddpm.mlp import MLPConfig, MLPDenoiser
from generators.ddpm.unet import UNet, UNetConfig

ARCHITECTURES: dict[str, tuple[type, type[nn.Module]]] = {
    "unet": (UNetConfig, UNet),
    "mlp": (MLPConfig, MLPDenoiser),
}


def architecture_config(model: nn.Module) -> dict[str, Any]:
    """``{"architecture": name, **config}`` for one of our networks."""
    for name, (_, cls) in ARCHITECTURES.items():
        if type(model) is cls:
            return {"architecture": name, **dataclasses.asdict(model.config)}
    raise TypeError(f"{type(model).__name__} is not one of our architectures ({', '.join(ARCHITECTURES)})")


def build_denoiser(config: dict[str, Any]) -> nn.Module:
    """The network an :func:`architecture_config` describes, with fresh weights."""
    fields = dict(config)
    name = fields.pop("architecture", None)
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    config_cls, model_cls = ARCHITECTURES[name]
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f"{name} config has unknown field(s): {', '.join(unknown)}")
    return model_cls(config_cls(**fields))
