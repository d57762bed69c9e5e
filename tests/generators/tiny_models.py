"""Tiny pipelines of other shapes than the built-in one, for tests: SDXL (two text encoders) and a safety checker."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from generators.tiny_pipeline import clip_tokenizer, tiny_text_encoder, tiny_vae


def build_tiny_sdxl(path: str | Path, *, seed: int = 0) -> Path:
    """Build and ``save_pretrained`` a tiny StableDiffusionXLPipeline (two text encoders) into ``path``."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel

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
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,  # six size/crop ids + pooled text
        cross_attention_dim=64,  # the two encoders' hidden states side by side
        norm_num_groups=1,
    )
    vae = tiny_vae()
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = clip_tokenizer(Path(tmp))
        pipe = StableDiffusionXLPipeline(
            unet=unet,
            vae=vae,
            text_encoder=tiny_text_encoder(),
            text_encoder_2=tiny_text_encoder(with_projection=True),
            tokenizer=tokenizer,
            tokenizer_2=tokenizer,
            scheduler=scheduler,
        )
        pipe.save_pretrained(path, safe_serialization=True)
    return path


def add_tiny_safety_checker(path: str | Path) -> Path:
    """Give the pipeline saved in ``path`` the tiny random-weight safety checker of the classifier's example.

    Its verdicts mean nothing; it exercises the code path a real checker takes.
    """
    from audit.classifiers import SafetyCheckerClassifier

    path = Path(path)
    with tempfile.TemporaryDirectory() as tmp:
        example = Path(SafetyCheckerClassifier.example_params(Path(tmp)).model)
        shutil.copytree(example, path / "safety_checker")
        shutil.copytree(example, path / "feature_extractor")
    index_path = path / "model_index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
    index["requires_safety_checker"] = True
    index_path.write_text(json.dumps(index, indent=2), encoding="utf-8")
    return path
