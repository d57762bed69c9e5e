"""Train the sandbox's in-domain CLIP: ``python -m generators.sandbox.train_clip``.

A tiny open_clip model (its own model config, ``SANDBOX_CLIP_CONFIG`` below: a 4-layer ViT on 4×4
patches of the 32×32 portraits and a 3-layer text transformer over open_clip's own BPE tokenizer),
trained with open_clip's model and its contrastive loss (``open_clip.loss.ClipLoss``) on rendered
portraits captioned from their true attributes ("a photo of a nurse with grey hair, dark skin and
a violet badge", with clauses shuffled and some left out, so that zero-shot prompts naming one
attribute work). The portraits are drawn *balanced* — every attribute independent of the
occupation — so the model learns to see attributes, not to guess them from the clothing.

Light augmentation (blur, noise, a pixel of shift) makes it robust to the softer images a DDPM
draws. The output folder is an open_clip ``local-dir:`` model: ``open_clip_config.json`` and
``open_clip_model.safetensors`` (float16, to stay under 10 MB), plus ``training.json`` with the
command, seed and wall time. The ``clip`` classifier loads it as ``model: builtin:sandbox-clip``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from generators.sandbox.recipe import parse_recipe, recipe_parser, run_record
from generators.sandbox.world import ATTRIBUTES, Portrait, balanced_bias

PROG = "python -m generators.sandbox.train_clip"

# The package folder the `clip` classifier's built-in name `builtin:sandbox-clip` points at.
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "audit" / "classifiers" / "models" / "sandbox-clip"

SANDBOX_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 4, "width": 96, "layers": 4, "head_width": 32, "mlp_ratio": 4.0},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
}

# How each attribute's label reads in a caption, and how the zero-shot label set names it.
CAPTION_PHRASES: dict[str, dict[str, str]] = {
    # "deep skin", not "dark skin": "dark" already names the younger hair, and a word shared by two
    # attributes left the first model unable to tell grey hair from dark (51% on held-out portraits).
    "skin_tone_group": {"light": "light skin", "medium": "medium skin", "dark": "deep skin"},
    "age_cue": {"older": "grey hair", "younger": "dark hair"},
    "marker": {"amber": "an amber badge", "violet": "a violet badge"},
}
_ARTICLE = {"executive": "an"}

DEFAULTS = {"steps": 1500, "batch_size": 128, "lr": 2e-3, "images": 16_000, "seed": 1}


def occupation_phrase(occupation: str) -> str:
    """'a nurse', 'an executive': how captions and zero-shot prompts name an occupation."""
    return f"{_ARTICLE.get(occupation, 'a')} {occupation}"


def caption(portrait: Portrait, rng: Any) -> str:
    """A caption of ``portrait`` from its true attributes; clause order and which clauses appear vary with ``rng``."""
    subject = "a person" if rng.random() < 0.25 else occupation_phrase(portrait.occupation)
    truth = portrait.truth()
    clauses = []
    for attribute in ATTRIBUTES:
        if rng.random() < 0.75:
            phrase = CAPTION_PHRASES[attribute][truth[attribute]]
            clauses.append(("wearing " if attribute == "marker" else "with ") + phrase)
    if not clauses:
        return f"a photo of {subject}."
    order = rng.permutation(len(clauses))
    return f"a photo of {subject} " + ", ".join(clauses[i] for i in order) + "."


def _augment(images: Any, generator: Any) -> Any:
    """Blur half of the batch a little, add faint noise, shift by up to a pixel (images normalised, NCHW)."""
    import torch
    import torch.nn.functional as F

    n = images.shape[0]
    sigma = torch.rand(n, generator=generator) * 0.9
    blur = torch.rand(n, generator=generator) < 0.5
    offsets = torch.arange(-1, 2, dtype=torch.float32)
    kernels = torch.exp(-(offsets[None] ** 2) / (2 * sigma.clamp(min=1e-3)[:, None] ** 2))
    kernels = kernels / kernels.sum(dim=1, keepdim=True)
    out = images.clone()
    for i in torch.nonzero(blur).flatten().tolist():
        k = kernels[i]
        k2 = (k[:, None] * k[None, :]).expand(3, 1, 3, 3)
        out[i] = F.conv2d(F.pad(out[i : i + 1], (1, 1, 1, 1), mode="replicate"), k2, groups=3)[0]
    out = out + torch.randn(out.shape, generator=generator) * torch.rand(n, 1, 1, 1, generator=generator) * 0.1
    shifts = torch.randint(-1, 2, (2,), generator=generator).tolist()
    return torch.roll(out, shifts=shifts, dims=(2, 3))


def train(args: argparse.Namespace) -> Path:
    import numpy as np
    import open_clip
    import torch
    from open_clip.loss import ClipLoss

    from audit.core.device import pick_device
    from generators.sandbox.dataset import render_dataset

    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    started = time.perf_counter()
    pixels, portraits = render_dataset(args.images, args.seed, table=balanced_bias())
    render_s = time.perf_counter() - started

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_model.safetensors").unlink(missing_ok=True)  # training starts from random weights
    preprocess = {"interpolation": "bicubic", "resize_mode": "shortest"}
    config = {"model_cfg": SANDBOX_CLIP_CONFIG, "preprocess_cfg": preprocess}
    (out / "open_clip_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    torch.manual_seed(args.seed)
    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out}", pretrained=None)
    model = model.to(device)
    tokenizer = open_clip.get_tokenizer(f"local-dir:{out}")
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    data = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0 - mean) / std

    loss_fn = ClipLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + np.cos(np.pi * min(s, args.steps) / args.steps)),
    )
    rng = np.random.default_rng(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    model.train()
    fit_started, fit_cpu = time.perf_counter(), time.process_time()
    losses = []
    for step in range(args.steps):
        index = torch.from_numpy(rng.integers(0, len(portraits), args.batch_size))
        images = _augment(data[index], generator).to(device)
        text = tokenizer([caption(portraits[i], rng) for i in index.tolist()]).to(device)
        image_features, text_features, logit_scale = model(images, text)
        loss = loss_fn(image_features, text_features, logit_scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, np.log(100))
        losses.append(loss.item())
        if not args.quiet and (step % 25 == 0 or step == args.steps - 1):
            print(f"step {step + 1}/{args.steps} loss {loss.item():.4f}", file=sys.stderr, flush=True)
    fit_s, cpu_s = time.perf_counter() - fit_started, time.process_time() - fit_cpu

    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "open_clip_model.safetensors"))
    tail = losses[-50:]
    record = {
        **run_record(args),
        "steps": args.steps,
        "data": f"{args.images} portraits rendered balanced (seed {args.seed}); {render_s:.0f} s to render",
        "training_seconds": round(fit_s, 1),
        "training_cpu_seconds": round(cpu_s, 1),
        "final_loss_mean_last_50": sum(tail) / len(tail),
        "parameters": sum(p.numel() for p in model.parameters()),
        "weights_dtype": "float16",
        "open_clip": open_clip.__version__,
        "device": device,
    }
    (out / "training.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return parse_recipe(recipe_parser(PROG, __doc__.splitlines()[0], DEFAULTS, out=str(DEFAULT_OUT)), argv)


def main(argv: list[str] | None = None) -> None:
    print(train(parse_args(argv)))


if __name__ == "__main__":
    main()
