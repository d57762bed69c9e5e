"""Oracle: our samplers reproduce diffusers' schedulers step for step on the same UNet and the same noise."""

from __future__ import annotations

import pytest
import torch

from generators.ddpm import (
    DDIMScheduler,
    DDPMScheduler,
    DiffusersUNet,
    DPMSolverMultistepScheduler,
    NoiseSchedule,
)

SCHEDULES = {"linear": (1e-4, 0.02), "scaled_linear": (0.00085, 0.012), "squaredcos_cap_v2": (1e-4, 0.02)}
STEPS = 4


def _trajectory_ours(model, scheduler, seeds):
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    from generators.ddpm import randn_per_image

    x = randn_per_image((len(seeds), 3, 8, 8), gens)
    scheduler.set_timesteps(STEPS)
    states = []
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(model(x, t.expand(len(seeds))), t, x, gens).prev_sample
            states.append(x)
    return scheduler.timesteps, states


def _trajectory_diffusers(unet, scheduler, seeds, **step_kwargs):
    from diffusers.utils.torch_utils import randn_tensor

    gens = [torch.Generator().manual_seed(s) for s in seeds]
    x = randn_tensor((len(seeds), 3, 8, 8), generator=gens)
    scheduler.set_timesteps(STEPS)
    states = []
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t).sample, t, x, generator=gens, **step_kwargs).prev_sample
            states.append(x)
    return scheduler.timesteps, states


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
@pytest.mark.parametrize("beta_schedule", list(SCHEDULES))
@pytest.mark.parametrize("sampler", ["ddpm", "ddim_eta0", "ddim_eta1", "dpm_solver++"])
def test_trajectory_matches_diffusers(tiny_unet2d, sampler, beta_schedule, prediction_type):
    import diffusers

    start, end = SCHEDULES[beta_schedule]
    schedule = NoiseSchedule.make(beta_schedule, 1000, beta_start=start, beta_end=end)
    config = dict(beta_schedule=beta_schedule, beta_start=start, beta_end=end, prediction_type=prediction_type)
    step_kwargs = {}
    if sampler == "ddpm":
        ours, theirs = DDPMScheduler(schedule, prediction_type=prediction_type), diffusers.DDPMScheduler(**config)
    elif sampler.startswith("ddim"):
        eta = float(sampler[-1])
        ours = DDIMScheduler(schedule, prediction_type=prediction_type, eta=eta)
        theirs, step_kwargs = diffusers.DDIMScheduler(**config), {"eta": eta}
    else:
        ours = DPMSolverMultistepScheduler(schedule, prediction_type=prediction_type)
        theirs = diffusers.DPMSolverMultistepScheduler(**config)
    seeds = [3, 14, 15]
    our_steps, ours_states = _trajectory_ours(DiffusersUNet(tiny_unet2d), ours, seeds)
    their_steps, their_states = _trajectory_diffusers(tiny_unet2d, theirs, seeds, **step_kwargs)
    assert our_steps.tolist() == their_steps.tolist()
    for mine, reference in zip(ours_states, their_states, strict=True):
        # Relative: an untrained UNet's epsilon drives unclipped DPM-Solver samples far from [-1, 1].
        torch.testing.assert_close(mine, reference, rtol=1e-4, atol=1e-4 * max(1.0, reference.abs().max().item()))


@pytest.mark.parametrize("spacing", ["leading", "linspace", "trailing"])
def test_timestep_spacings_match_diffusers(spacing):
    import diffusers

    ours = DDIMScheduler(NoiseSchedule.make(), timestep_spacing=spacing)
    theirs = diffusers.DDIMScheduler(timestep_spacing=spacing)
    for n in (1, 7, 50, 1000):
        ours.set_timesteps(n)
        theirs.set_timesteps(n)
        assert ours.timesteps.tolist() == theirs.timesteps.tolist()


def test_fixed_large_variance_matches_diffusers(tiny_unet2d):
    import diffusers

    ours = DDPMScheduler(NoiseSchedule.make(), variance_type="fixed_large")
    theirs = diffusers.DDPMScheduler(variance_type="fixed_large")
    _, a = _trajectory_ours(DiffusersUNet(tiny_unet2d), ours, [0, 1])
    _, b = _trajectory_diffusers(tiny_unet2d, theirs, [0, 1])
    torch.testing.assert_close(a[-1], b[-1], rtol=1e-4, atol=1e-4)


def test_step_before_set_timesteps_is_an_error():
    scheduler = DDIMScheduler(NoiseSchedule.make())
    with pytest.raises(RuntimeError, match="set_timesteps"):
        scheduler.step(torch.zeros(1, 1), 10, torch.zeros(1, 1))
