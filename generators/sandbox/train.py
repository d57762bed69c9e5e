"""Train the sandbox's class-conditional DDPM on rendered portraits: ``python -m generators.sandbox.train``.

The recipe that made the shipped checkpoint (``generators/sandbox/models/ddpm``) is the default: a
1.1 M-parameter UNet of ours working on 2×2 patches of the 32×32 portraits, trained with classifier-free
guidance (labels dropped 10% of the time) on portraits drawn from the planted bias, one class per
occupation. It runs on the accelerator when there is one (``--device auto``) and on 2 CPU cores in
under an hour. Training checkpoints go to ``--work`` (resumable: rerun the same command); the EMA
weights and config are then exported to ``--out`` with a ``training.json`` that records the command,
seed, steps, data and wall time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from generators.sandbox.models import DDPM_DIR
from generators.sandbox.recipe import parse_recipe, recipe_parser, run_record

PROG = "python -m generators.sandbox.train"

DEFAULTS = {
    "steps": 6000,
    "batch_size": 64,
    "lr": 8e-4,
    "ema_decay": 0.998,
    "images": 20_000,
    "seed": 0,
    "base_channels": 32,
    "num_res_blocks": 1,
    # v-prediction, not epsilon: what an occupation's skin-tone shares look like is decided at the
    # highest noise levels, where the cosine schedule's signal-to-noise ratio reaches 0 and an epsilon
    # model cannot say what the image holds (its x0 estimate divides by ~0). An epsilon model trained
    # 6,250 steps drew police officers with 18% dark skin where the data had 80%.
    "prediction_type": "v_prediction",
}


def build_model(base_channels: int, num_res_blocks: int, num_classes: int) -> Any:
    """The sandbox UNet: 32×32 RGB seen as 16×16 grids of 2×2 patches, attention at 8×8."""
    from generators import ddpm

    config = ddpm.UNetConfig(
        sample_size=32,
        patch_size=2,
        base_channels=base_channels,
        channel_mults=(1, 2, 2),
        num_res_blocks=num_res_blocks,
        attention_resolutions=(8,),
        norm_groups=8,
        num_classes=num_classes,
    )
    return ddpm.UNet(config)


def train(args: argparse.Namespace) -> Path:
    """Render the data, fit (or resume), export the EMA weights; returns the exported folder."""
    import torch

    from audit.core.device import pick_device
    from generators import ddpm
    from generators.sandbox.dataset import render_dataset
    from generators.sandbox.world import occupations

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    names = occupations()
    started = time.perf_counter()
    pixels, portraits = render_dataset(args.images, args.seed)
    render_s = time.perf_counter() - started
    data = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    labels = torch.tensor([names.index(p.occupation) for p in portraits])

    work = Path(args.work)
    if ddpm.is_checkpoint(work):
        trainer = ddpm.Trainer.resume(work, steps=args.steps, device=device)
        print(f"resuming {work} at step {trainer.step} of {args.steps}", file=sys.stderr)
    else:
        torch.manual_seed(args.seed)
        config = ddpm.TrainingConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            ema_decay=args.ema_decay,
            label_dropout=0.1,
            prediction_type=args.prediction_type,
            checkpoint_every=250,
            seed=args.seed,
        )
        trainer = ddpm.Trainer(
            build_model(args.base_channels, args.num_res_blocks, len(names)),
            ddpm.NoiseSchedule.make("cosine"),
            config,
            out_dir=work,
            class_names=names,
            device=device,
        )
    fit_started, fit_cpu, first_step = time.perf_counter(), time.process_time(), trainer.step
    trainer.fit(data, labels, progress=not args.quiet)
    fit_s, cpu_s = time.perf_counter() - fit_started, time.process_time() - fit_cpu
    log = _training_log(work)
    log.append(
        {
            "steps": [first_step, trainer.step],
            "seconds": round(fit_s, 1),
            "cpu_seconds": round(cpu_s, 1),
            "device": device,
        }
    )
    (work / "training_log.json").write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
    return export(trainer, Path(args.out), args, render_s=render_s, log=log)


def _training_log(work: Path) -> list[dict[str, Any]]:
    path = work / "training_log.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def export(trainer: Any, out: Path, args: argparse.Namespace, *, render_s: float, log: list[dict]) -> Path:
    """Write the shippable checkpoint: config.json, ema.safetensors (what sampling loads) and training.json."""

    from generators.ddpm.checkpoint import write_json, write_tensors

    out.mkdir(parents=True, exist_ok=True)
    write_tensors(out / "ema.safetensors", trainer.ema.module.state_dict())
    config = trainer.checkpoint_config()
    losses = trainer.losses
    tail = losses[-200:]
    write_json(
        out / "training.json",
        {
            **run_record(args),
            "steps": trainer.step,
            "data": f"{args.images} portraits rendered from the planted bias (seed {args.seed}), "
            f"occupations in turn; {render_s:.0f} s to render",
            "training_seconds": round(sum(entry["seconds"] for entry in log), 1),
            "sessions": log,
            "final_loss_mean_last_200": sum(tail) / len(tail) if tail else None,
            "parameters": sum(p.numel() for p in trainer.model.parameters()),
        },
    )
    # config.json last: a folder with it is a complete checkpoint.
    write_json(out / "config.json", config)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = recipe_parser(PROG, __doc__.splitlines()[0], DEFAULTS, out=str(DDPM_DIR))
    parser.add_argument("--work", default="runs/sandbox-ddpm-training", help="training checkpoints (resumable)")
    return parse_recipe(parser, argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    folder = train(args)
    print(folder)


if __name__ == "__main__":
    main()
