"""A tiny Stable-Diffusion-style pipeline built from configs, for offline demos and tests.

Random (but seeded) weights: it makes noise-like 64×64 images in a fraction
of a second on a CPU, through exactly the code path a real Stable Diffusion
checkpoint takes (``DiffusionPipeline.from_pretrained(path)``). The tokenizer
is a real CLIP BPE tokenizer built from the vocabulary open_clip ships.
"""

from __future__ import annotations

import gzip
import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path

from audit.core.cache import cache_dir

BUILTIN_NAME = "builtin:tiny-sd"
_FORMAT_VERSION = 2  # bump when the architecture below changes, so caches rebuild


def clip_tokenizer(folder: Path):
    """A transformers CLIPTokenizer from open_clip's shipped BPE vocabulary (no download)."""
    import open_clip
    from open_clip.tokenizer import default_bpe
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    encoder = open_clip.tokenizer.SimpleTokenizer().encoder
    (folder / "vocab.json").write_text(json.dumps(encoder), encoding="utf-8")
    with gzip.open(default_bpe(), "rt", encoding="utf-8") as fh:
        merges = fh.read().split("\n")[1 : 49152 - 256 - 2 + 1]
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    # transformers 5 names these `vocab` and `merges` (4.x: vocab_file, merges_file) and
    # silently ignores a name it does not know, leaving a tokenizer with no vocabulary.
    files = {"vocab": str(folder / "vocab.json"), "merges": str(folder / "merges.txt")}
    if "vocab_file" in inspect.signature(CLIPTokenizer.__init__).parameters:
        files = {"vocab_file": files["vocab"], "merges_file": files["merges"]}
    # Without the special tokens named, the tokenizer adds ids past the vocabulary.
    tokenizer = CLIPTokenizer(
        **files,
        model_max_length=77,
        bos_token="<start_of_text>",
        eos_token="<end_of_text>",
        pad_token="<end_of_text>",
        unk_token="<end_of_text>",
    )
    if len(tokenizer) < 49408:
        raise RuntimeError(f"the CLIP tokenizer came out with {len(tokenizer)} tokens instead of 49408")
    return tokenizer


def build_tiny_sd(path: str | Path, *, seed: int = 0) -> Path:
    """Build and ``save_pretrained`` a tiny StableDiffusionPipeline into ``path``."""
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel

    path = Path(path)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=32,
        block_out_channels=(32, 64),
        layers_per_block=1,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        norm_num_groups=32,
    )
    vae = tiny_vae()
    text_encoder = tiny_text_encoder()
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = clip_tokenizer(Path(tmp))
        pipe = StableDiffusionPipeline(
            unet=unet,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            scheduler=scheduler,
            safety_checker=None,
            feature_extractor=None,
            requires_safety_checker=False,
        )
        pipe.save_pretrained(path, safe_serialization=True)
    return path


def tiny_vae():
    """A two-level AutoencoderKL: 64×64 images to 32×32×4 latents."""
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=64,
    )


def tiny_text_encoder(*, with_projection: bool = False):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    config = CLIPTextConfig(
        hidden_size=32,
        intermediate_size=64,  # a multiple of the vector width: see _run_batch on float rounding
        num_attention_heads=4,
        num_hidden_layers=5,
        vocab_size=49408,
        max_position_embeddings=77,
        projection_dim=32,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=49407,
    )
    return CLIPTextModelWithProjection(config) if with_projection else CLIPTextModel(config)


def builtin_tiny_sd_path() -> Path:
    """The built-in tiny pipeline on disk, built once into the user's cache directory."""
    import diffusers

    cache = cache_dir()

    target = cache / f"tiny-sd-v{_FORMAT_VERSION}-diffusers{diffusers.__version__}"
    if (target / "model_index.json").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="tiny-sd-", dir=cache))
    try:
        build_tiny_sd(staging)
        try:
            os.replace(staging, target)  # atomic: a half-built model never appears
        except OSError:
            if not (target / "model_index.json").is_file():  # lost a race to another process?
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
