"""Sampling: an image depends only on its own seed; guidance mixes the two predictions as the paper says."""

from __future__ import annotations

import pytest
import torch

from generators.ddpm import (
    DDIMScheduler,
    DDPMScheduler,
    DPMSolverMultistepScheduler,
    MLPConfig,
    MLPDenoiser,
    NoiseSchedule,
    guided_output,
    randn_per_image,
    sample,
)
from tests.generators.ddpm.tiny_unet import tiny_unet

SCHEDULE = NoiseSchedule.make("linear", 1000)


@pytest.fixture(scope="module")
def unet():
    return tiny_unet(attention_resolutions=(4,), num_classes=3)


@pytest.mark.parametrize(
    "make_scheduler",
    [
        lambda: DDPMScheduler(SCHEDULE),
        lambda: DDIMScheduler(SCHEDULE, eta=1.0),
        lambda: DPMSolverMultistepScheduler(SCHEDULE),
    ],
    ids=["ddpm", "ddim-eta1", "dpm-solver++"],
)
def test_an_image_depends_on_its_seed_not_on_batch_size_or_position(unet, make_scheduler):
    def run(seeds, labels):
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        return sample(
            unet,
            make_scheduler(),
            generators,
            (3, 8, 8),
            num_inference_steps=5,
            labels=torch.tensor(labels),
            guidance_scale=2.0,
            null_label=3,
        )

    batch = run([10, 11, 12, 13], [0, 1, 2, 0])
    alone = torch.cat([run([s], [c]) for s, c in zip([10, 11, 12, 13], [0, 1, 2, 0], strict=True)])
    reordered = run([13, 12, 11], [0, 2, 1]).flip(0)
    # Equal up to float rounding (batched kernels sum in another order); an untrained UNet under
    # unclipped DPM-Solver++ reaches large values, so the tolerance scales with them.
    atol = 1e-5 * max(1.0, batch.abs().max().item())
    torch.testing.assert_close(batch, alone, rtol=1e-5, atol=atol)
    torch.testing.assert_close(batch[1:], reordered, rtol=1e-5, atol=atol)
    assert not torch.allclose(batch[0], batch[3])  # same class, other seed: another image


def test_noise_rows_come_from_their_own_generator():
    a = randn_per_image((2, 4), [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)])
    b = randn_per_image((1, 4), [torch.Generator().manual_seed(2)])
    torch.testing.assert_close(a[1:], b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="one generator per image"):
        randn_per_image((3, 4), [torch.Generator()])


def test_guidance_is_unconditional_plus_scaled_difference():
    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(dim=2, hidden=16, depth=1, num_classes=2)).eval()
    x, t, labels = torch.randn(4, 2), torch.tensor(7), torch.tensor([0, 1, 1, 0])
    with torch.no_grad():
        conditional = model(x, t.expand(4), labels)
        unconditional = model(x, t.expand(4), torch.full((4,), 2))
        guided = guided_output(model, x, t, labels, guidance_scale=4.0, null_label=2)
        plain = guided_output(model, x, t, labels, guidance_scale=1.0, null_label=2)
        none = guided_output(model, x, t, labels, guidance_scale=0.0, null_label=2)
    torch.testing.assert_close(guided, unconditional + 4.0 * (conditional - unconditional))
    torch.testing.assert_close(plain, conditional)
    torch.testing.assert_close(none, unconditional)
    with pytest.raises(ValueError, match="null label"):
        guided_output(model, x, t, labels, guidance_scale=2.0)


def test_unconditional_call_uses_the_null_label(unet):
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([3, 900])
    with torch.no_grad():
        torch.testing.assert_close(unet(x, t), unet(x, t, torch.full((2,), 3)))
        assert not torch.allclose(unet(x, t, torch.tensor([0, 0])), unet(x, t, torch.tensor([1, 1])))


def test_stochastic_sampler_without_generators_says_so():
    scheduler = DDPMScheduler(SCHEDULE)
    scheduler.set_timesteps(2)
    with pytest.raises(ValueError, match="one torch.Generator per image"):
        scheduler.step(torch.zeros(1, 2), scheduler.timesteps[0], torch.zeros(1, 2))


def test_dpm_solver_steps_must_run_in_order():
    scheduler = DPMSolverMultistepScheduler(SCHEDULE)
    scheduler.set_timesteps(5)
    with pytest.raises(RuntimeError, match="in order"):
        scheduler.step(torch.zeros(1, 2), scheduler.timesteps[2], torch.zeros(1, 2))
