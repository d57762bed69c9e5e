"""Scoring speed: our CLIP scorer against a per-image open_clip loop and the bare image-encoder floor.

Run as ``python -m benchmarks.scoring``. On 64 images of 512×512, with the
same random-weight ViT-B-32 (the architecture is what costs time, not the
weights), in one process and alternating, it measures images per second of

- ``ours``: :func:`audit.classifiers.iter_results` with the ``clip``
  classifier and the default label set (every attribute), batches of 32;
- ``loop``: the usual open_clip loop — preprocess one image, encode it, compare
  with the text embeddings of every attribute computed once;
- ``floor``: the bare batched ``encode_image`` on already-preprocessed tensors.

It prints ``ratio_vs_loop`` (goal >= 1.3 on CPU) and ``fraction_of_floor``
(goal >= 0.9: one image encode serves every attribute, preprocessing overlaps compute).
``--quick``: 4 images of 64×64, one round, the small sandbox CLIP (seconds; the figures mean little).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from PIL import Image

from audit.classifiers import ClipClassifier, ClipParams, iter_results

MODEL = "ViT-B-32"


def make_images(n: int, size: int, seed: int = 0) -> list[Image.Image]:
    """Smooth random colour fields (photo-like to the JPEG-free PNG path, unlike white noise)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        images.append(Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC))
    return images


def run_ours(classifier: ClipClassifier, images: list, batch_size: int) -> float:
    started = time.perf_counter()
    count = 0
    for keys, _ in iter_results([classifier], list(enumerate(images)), batch_size=batch_size, load=lambda x: x):
        count += len(keys)
    return count / (time.perf_counter() - started)


def run_loop(classifier: ClipClassifier, images: list) -> float:
    model, preprocess = classifier.clip.model, classifier.clip.preprocess
    text = classifier.class_weights  # text embeddings of every attribute, computed once
    scale = classifier.logit_scale
    started = time.perf_counter()
    with torch.inference_mode():
        for image in images:
            features = model.encode_image(preprocess(image).unsqueeze(0), normalize=True)
            (scale * features @ text).softmax(dim=-1)
    return len(images) / (time.perf_counter() - started)


def run_floor(classifier: ClipClassifier, pixels: torch.Tensor, batch_size: int) -> float:
    model = classifier.clip.model
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(pixels), batch_size):
            model.encode_image(pixels[start : start + batch_size], normalize=True)
    return len(pixels) / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="4 images of 64x64, one round: seconds")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.size, args.batch_size, args.rounds = 4, 64, 4, 1

    model = "builtin:sandbox-clip" if args.quick else MODEL
    classifier = ClipClassifier(ClipParams(model=model, pretrained=None, cache=False))
    classifier.load()
    images = make_images(args.images, args.size)
    pixels = torch.stack([classifier.clip.preprocess(image) for image in images])
    # Warm-up: first calls pay for allocations and kernel selection.
    run_floor(classifier, pixels[: args.batch_size], args.batch_size)
    run_loop(classifier, images[:2])

    rates: dict[str, list[float]] = {"ours": [], "loop": [], "floor": []}
    for _ in range(args.rounds):
        rates["ours"].append(run_ours(classifier, images, args.batch_size))
        rates["loop"].append(run_loop(classifier, images))
        rates["floor"].append(run_floor(classifier, pixels, args.batch_size))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(
        f"{args.images} images {args.size}x{args.size}, {model} ({'its own' if args.quick else 'random'} weights), "
        f"batch {args.batch_size}, "
        f"{torch.get_num_threads()} torch threads, median of {args.rounds} alternating rounds"
    )
    for name in ("ours", "loop", "floor"):
        shown = " ".join(f"{v:.2f}" for v in rates[name])
        print(f"{name:>6}: {median[name]:6.2f} images/s   (rounds: {shown})")
    print(f"ratio_vs_loop: {median['ours'] / median['loop']:.2f}   (goal >= 1.3 on CPU)")
    print(f"fraction_of_floor: {median['ours'] / median['floor']:.2f}   (goal >= 0.9)")


if __name__ == "__main__":
    main()
