"""A diffusers UNet2DModel DDPM loaded from disk samples under our schedulers exactly as diffusers' pipelines do."""

from __future__ import annotations

import pytest
import torch

from generators.ddpm import (
    DDIMScheduler,
    DDPMScheduler,
    ModelNotFound,
    load_diffusers_unet,
    sample,
)


@pytest.fixture(scope="module")
def saved_pipeline(tiny_unet2d, tmp_path_factory):
    """A DDPMPipeline folder (unet/ + scheduler/) as save_pretrained writes it, with a cosine v-prediction scheduler."""
    import diffusers

    scheduler = diffusers.DDPMScheduler(beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction")
    folder = tmp_path_factory.mktemp("models") / "tiny-ddpm"
    diffusers.DDPMPipeline(unet=tiny_unet2d, scheduler=scheduler).save_pretrained(folder)
    return folder


def _as_pipeline_image(x: torch.Tensor):
    return (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()


def test_loaded_unet_reads_the_scheduler_config(saved_pipeline):
    model, defaults = load_diffusers_unet(str(saved_pipeline))
    assert model.sample_shape == (3, 8, 8)
    assert defaults.prediction_type == "v_prediction"
    assert defaults.schedule.kind == "cosine" and defaults.schedule.num_timesteps == 1000


@pytest.mark.parametrize("pipeline_name", ["DDPMPipeline", "DDIMPipeline"])
def test_our_sampler_reproduces_the_diffusers_pipeline(saved_pipeline, pipeline_name):
    import diffusers

    model, defaults = load_diffusers_unet(str(saved_pipeline))
    if pipeline_name == "DDPMPipeline":
        ours = DDPMScheduler(defaults.schedule, prediction_type=defaults.prediction_type)
    else:
        ours = DDIMScheduler(defaults.schedule, prediction_type=defaults.prediction_type, eta=0.0)
    seeds = [5, 6]
    pipeline = getattr(diffusers, pipeline_name).from_pretrained(saved_pipeline)
    pipeline.set_progress_bar_config(disable=True)
    expected = pipeline(
        batch_size=2,
        generator=[torch.Generator().manual_seed(s) for s in seeds],
        num_inference_steps=6,
        output_type="np",
    ).images
    got = sample(
        model, ours, [torch.Generator().manual_seed(s) for s in seeds], model.sample_shape, num_inference_steps=6
    )
    torch.testing.assert_close(
        torch.from_numpy(_as_pipeline_image(got)), torch.from_numpy(expected), rtol=1e-4, atol=1e-4
    )


def test_missing_model_offline_is_one_clear_line():
    with pytest.raises(ModelNotFound) as info:
        load_diffusers_unet("diffaudit-tests/no-such-ddpm")
    message = str(info.value)
    assert "\n" not in message
    assert "'diffaudit-tests/no-such-ddpm' is not on disk" in message and "huggingface-cli download" in message


def test_folder_without_a_unet_is_named(tmp_path):
    with pytest.raises(ModelNotFound, match="holds no diffusers UNet2DModel"):
        load_diffusers_unet(str(tmp_path))
