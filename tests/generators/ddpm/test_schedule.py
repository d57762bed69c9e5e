"""Noise schedules equal diffusers' and the forward process has the moments the paper gives."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generators.ddpm import NoiseSchedule, q_posterior_mean_variance, q_sample


@pytest.mark.parametrize(
    ("kind", "start", "end"), [("linear", 1e-4, 0.02), ("scaled_linear", 0.00085, 0.012), ("cosine", 1e-4, 0.02)]
)
def test_schedule_arrays_equal_diffusers(kind, start, end):
    import diffusers

    ours = NoiseSchedule.make(kind, 1000, beta_start=start, beta_end=end)
    name = "squaredcos_cap_v2" if kind == "cosine" else kind
    theirs = diffusers.DDPMScheduler(beta_schedule=name, beta_start=start, beta_end=end)
    torch.testing.assert_close(torch.from_numpy(ours.betas).float(), theirs.betas)
    torch.testing.assert_close(
        torch.from_numpy(ours.alphas_cumprod).float(), theirs.alphas_cumprod, rtol=1e-4, atol=1e-7
    )
    # diffusers' fixed-small variance at each training step equals our posterior variance (up to the
    # float32 cancellation in 1 - abar that diffusers suffers near t = 0 and we do not).
    theirs.set_timesteps(1000)
    variances = torch.stack([theirs._get_variance(t) for t in range(1, 1000)])
    torch.testing.assert_close(torch.from_numpy(ours.posterior_variance[1:]).float(), variances, rtol=1e-3, atol=1e-9)
    assert ours.betas.dtype == np.float64


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="quadratic"):
        NoiseSchedule.make("quadratic")


def test_config_round_trip():
    schedule = NoiseSchedule.make("cosine", 50)
    again = NoiseSchedule.from_config(schedule.config())
    np.testing.assert_array_equal(schedule.betas, again.betas)


def test_q_sample_has_the_marginal_moments():
    schedule = NoiseSchedule.make("linear", 1000)
    x0 = torch.full((20000, 1), 0.8, dtype=torch.float64)
    t = torch.full((20000,), 300)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xt = q_sample(schedule, x0, t, noise)
    abar = schedule.alphas_cumprod[300]
    assert xt.mean().item() == pytest.approx(abar**0.5 * 0.8, abs=0.02)
    assert xt.var().item() == pytest.approx(1 - abar, rel=0.03)


def test_posterior_is_the_bayes_posterior():
    """q(x_{t-1} | x_t, x_0) from the closed form equals the Gaussian product computed from scratch."""
    schedule = NoiseSchedule.make("linear", 1000)
    t = 500
    x0, xt = torch.tensor([[0.3]], dtype=torch.float64), torch.tensor([[-0.7]], dtype=torch.float64)
    mean, variance, _ = q_posterior_mean_variance(schedule, x0, xt, torch.tensor([t]))
    abar_prev, beta = schedule.alphas_cumprod[t - 1], schedule.betas[t]
    # prior x_{t-1} ~ N(sqrt(abar_prev) x0, 1 - abar_prev); likelihood x_t ~ N(sqrt(1-beta) x_{t-1}, beta)
    precision = 1 / (1 - abar_prev) + (1 - beta) / beta
    expected_mean = (abar_prev**0.5 * 0.3 / (1 - abar_prev) + (1 - beta) ** 0.5 * -0.7 / beta) / precision
    assert variance.item() == pytest.approx(1 / precision, rel=1e-9)
    assert mean.item() == pytest.approx(expected_mean, rel=1e-9)
