"""Training a DDPM: AdamW, EMA weights, gradient clipping, mixed precision on GPU, checkpoints, resume."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Literal

import torch
from safetensors.torch import load_file
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from generators.ddpm.architectures import architecture_config, build_denoiser
from generators.ddpm.checkpoint import FORMAT, FORMAT_VERSION, read_config, write_json, write_tensors
from generators.ddpm.objective import training_loss
from generators.ddpm.schedule import NoiseSchedule


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How to train; saved in config.json so that a resumed run continues with the same settings."""

    steps: int = 10_000
    batch_size: int = 128
    lr: float = 2e-4
    weight_decay: float = 0.0
    ema_decay: float = 0.9999
    grad_clip: float = 1.0
    prediction_type: Literal["epsilon", "sample", "v_prediction"] = "epsilon"
    label_dropout: float = 0.1
    checkpoint_every: int = 0
    seed: int = 0
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError(f"steps must be >= 0 and batch_size >= 1, got {self.steps} and {self.batch_size}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.label_dropout < 1:
            raise ValueError(f"label_dropout must be in [0, 1), got {self.label_dropout}")


class Trainer:
    """Fits one of our denoisers to a tensor of samples (and optional integer class labels).

    All randomness (batches, timesteps, noise, label dropout) comes from one ``torch.Generator``
    whose state is checkpointed, so training resumed from a checkpoint takes the same steps
    as training that never stopped.
    """

    def __init__(
        self,
        model: nn.Module,
        schedule: NoiseSchedule,
        config: TrainingConfig | None = None,
        *,
        out_dir: str | Path | None = None,
        class_names: list[str] | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.config = config or TrainingConfig()
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.schedule = schedule
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.class_names = class_names
        self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(self.config.ema_decay), use_buffers=True)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        self.rng = torch.Generator("cpu").manual_seed(self.config.seed)
        self.step = 0
        self.losses: list[float] = []
        self._amp_dtype = self._pick_amp_dtype()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self._amp_dtype is torch.float16)

    def _pick_amp_dtype(self) -> torch.dtype | None:
        choice = self.config.mixed_precision
        if self.device.type != "cuda" or choice == "no":
            return None  # mixed precision is for GPUs; CPU trains in float32
        if choice == "fp16" or (choice == "auto" and not torch.cuda.is_bf16_supported()):
            return torch.float16
        return torch.bfloat16

    @property
    def null_label(self) -> int | None:
        return getattr(self.model, "num_classes", None)

    # -- training ----------------------------------------------------------------------------
    def fit(self, data: torch.Tensor, labels: torch.Tensor | None = None, *, progress: bool = True) -> list[float]:
        """Train until ``config.steps``; returns the loss of every step taken in this call."""
        if labels is not None and len(labels) != len(data):
            raise ValueError(f"{len(labels)} labels for {len(data)} samples")
        if labels is not None and self.null_label is None:
            raise ValueError("labels given, but the model has no class embedding (num_classes is None)")
        data = data.to(self.device)
        labels = labels.to(self.device, torch.long) if labels is not None else None
        taken: list[float] = []
        with _progress_bar(progress, self.config.steps, self.step) as advance:
            while self.step < self.config.steps:
                loss = self._train_step(data, labels)
                taken.append(loss)
                self.step += 1
                advance(loss)
                every = self.config.checkpoint_every
                if self.out_dir is not None and every and self.step % every == 0:
                    self.save()
        self.losses.extend(taken)
        if self.out_dir is not None:
            self.save()
        return taken

    def _train_step(self, data: torch.Tensor, labels: torch.Tensor | None) -> float:
        index = torch.randint(0, len(data), (self.config.batch_size,), generator=self.rng).to(self.device)
        x0 = data[index]
        y = labels[index] if labels is not None else None
        self.model.train()
        with torch.autocast(
            self.device.type, dtype=self._amp_dtype or torch.float32, enabled=self._amp_dtype is not None
        ):
            loss = training_loss(
                self.model,
                self.schedule,
                x0,
                self.rng,
                prediction_type=self.config.prediction_type,
                labels=y,
                label_dropout=self.config.label_dropout if y is not None else 0.0,
                null_label=self.null_label,
            )
        if not math.isfinite(loss.item()):
            raise FloatingPointError(f"loss is {loss.item()} at step {self.step}; lower the learning rate")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        if self.config.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.ema.update_parameters(self.model)
        return loss.item()

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_config(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model": architecture_config(self.model),
            "schedule": self.schedule.config(),
            "prediction_type": self.config.prediction_type,
            "class_names": self.class_names,
            "training": dataclasses.asdict(self.config),
            "step": self.step,
        }

    def save(self, out_dir: str | Path | None = None) -> Path:
        """Write weights, EMA weights, optimizer and random state, and config.json into ``out_dir``."""
        folder = Path(out_dir) if out_dir is not None else self.out_dir
        if folder is None:
            raise ValueError("no out_dir to save the checkpoint in")
        folder.mkdir(parents=True, exist_ok=True)
        write_tensors(folder / "model.safetensors", self.model.state_dict())
        write_tensors(folder / "ema.safetensors", self.ema.module.state_dict())
        tensors, state = _flatten_optimizer(self.optimizer.state_dict())
        tensors["rng_state"] = self.rng.get_state()
        tensors["ema_n_averaged"] = self.ema.n_averaged
        write_tensors(folder / "trainer_state.safetensors", tensors)
        write_json(
            folder / "trainer_state.json",
            {"optimizer": state, "scaler": self.scaler.state_dict(), "losses": self.losses},
        )
        # config.json last: its step says the files beside it are complete.
        write_json(folder / "config.json", self.checkpoint_config())
        return folder

    @classmethod
    def resume(cls, folder: str | Path, *, steps: int | None = None, device: str | torch.device = "cpu") -> Trainer:
        """A trainer in the state a checkpoint saved; ``steps`` raises the total to train to."""
        folder = Path(folder)
        config = read_config(folder)
        training = dict(config["training"])
        if steps is not None:
            training["steps"] = steps
        trainer = cls(
            build_denoiser(config["model"]),
            NoiseSchedule.from_config(config["schedule"]),
            TrainingConfig(**training),
            out_dir=folder,
            class_names=config.get("class_names"),
            device=device,
        )
        trainer.model.load_state_dict(load_file(str(folder / "model.safetensors"), device=str(trainer.device)))
        trainer.ema.module.load_state_dict(load_file(str(folder / "ema.safetensors"), device=str(trainer.device)))
        tensors = load_file(str(folder / "trainer_state.safetensors"))
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        trainer.optimizer.load_state_dict(_unflatten_optimizer(tensors, state["optimizer"]))
        trainer.scaler.load_state_dict(state["scaler"])
        trainer.rng.set_state(tensors["rng_state"])
        trainer.ema.n_averaged.copy_(tensors["ema_n_averaged"])
        trainer.losses = list(state["losses"])
        trainer.step = int(config["step"])
        return trainer


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimizer state as safetensors tensors plus JSON (no pickle)."""
    tensors = {}
    for index, per_param in state_dict["state"].items():
        for name, value in per_param.items():
            tensors[f"optimizer.{index}.{name}"] = torch.as_tensor(value)
    return tensors, {"param_groups": state_dict["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> dict[str, Any]:
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            per_param.setdefault(int(index), {})[name] = value
    return {"state": per_param, "param_groups": state["param_groups"]}


class _progress_bar:
    """A rich progress bar with the running loss; silent when disabled."""

    def __init__(self, enabled: bool, total: int, completed: int) -> None:
        self.enabled, self.total, self.completed = enabled, total, completed

    def __enter__(self):
        if not self.enabled:
            return lambda loss: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TimeRemainingColumn(),
        )
        self._progress.__enter__()
        task = self._progress.add_task("train", total=self.total, completed=self.completed, loss=float("nan"))
        return lambda loss: self._progress.update(task, advance=1, loss=loss)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._progress.__exit__(*exc)
