"""Checkpoints: safetensors weights with a config.json beside them that says how to rebuild and sample.

No pickle anywhere. A checkpoint folder holds ``model.safetensors`` (the trained weights),
``ema.safetensors`` (the exponential moving average, what sampling uses), ``config.json``
(architecture, schedule, prediction type, class names, training settings and step) and, for
resuming, ``trainer_state.safetensors`` + ``trainer_state.json`` (optimizer and random state).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from generators.ddpm.architectures import build_denoiser
from generators.ddpm.schedule import NoiseSchedule

FORMAT = "diffaudit-ddpm"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"


def is_checkpoint(folder: str | Path) -> bool:
    """Whether ``folder`` holds one of our checkpoints (rather than, say, a diffusers model)."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        return False
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, json.JSONDecodeError):
        return False


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def write_json(path: Path, data: dict[str, Any]) -> None:
    _atomic(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8"))


def write_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    tensors = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
    _atomic(path, lambda tmp: save_file(tensors, str(tmp)))


@dataclasses.dataclass
class LoadedCheckpoint:
    """A network ready to sample, with what its config says about the diffusion it was trained for."""

    model: nn.Module
    schedule: NoiseSchedule
    prediction_type: str
    config: dict[str, Any]

    @property
    def class_names(self) -> list[str] | None:
        return self.config.get("class_names")


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_NAME
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder}: no {CONFIG_NAME}; not a DDPM checkpoint") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if config.get("format") != FORMAT:
        raise ValueError(f"{path}: format is {config.get('format')!r}, expected {FORMAT!r}")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {config['format_version']} is newer than this code reads")
    return config


def load_checkpoint(folder: str | Path, *, ema: bool = True, device: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild the network from ``config.json`` and load its EMA (or raw) weights."""
    folder = Path(folder)
    config = read_config(folder)
    model = build_denoiser(config["model"])
    weights = folder / ("ema.safetensors" if ema and (folder / "ema.safetensors").exists() else "model.safetensors")
    model.load_state_dict(load_file(str(weights), device=str(device)))
    return LoadedCheckpoint(
        model=model.to(device).eval(),
        schedule=NoiseSchedule.from_config(config["schedule"]),
        prediction_type=config.get("prediction_type", "epsilon"),
        config=config,
    )
