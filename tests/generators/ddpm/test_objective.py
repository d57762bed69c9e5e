"""The training objective: its three targets are consistent with the forward process and the samplers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from generators.ddpm import NoiseSchedule, q_sample, sample_timesteps, split_prediction, training_loss, training_target
from generators.ddpm.schedule import extract

SCHEDULE = NoiseSchedule.make("cosine", 1000)
POINT = torch.tensor([0.3, -0.5])


def _bayes_denoiser(prediction_type: str):
    """The exact denoiser for data that is always POINT: x_0 is known, so epsilon and v follow from x_t."""

    def model(xt, t, labels=None):
        abar = extract(SCHEDULE.alphas_cumprod, t, xt)
        eps = (xt - abar.sqrt() * POINT) / (1 - abar).sqrt()
        if prediction_type == "epsilon":
            return eps
        if prediction_type == "sample":
            return POINT.expand_as(xt)
        return abar.sqrt() * eps - (1 - abar).sqrt() * POINT

    return model


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_the_exact_denoiser_has_zero_loss_and_a_wrong_target_does_not(prediction_type):
    x0 = POINT.expand(512, 2).contiguous()
    generator = torch.Generator().manual_seed(0)
    loss = training_loss(_bayes_denoiser(prediction_type), SCHEDULE, x0, generator, prediction_type=prediction_type)
    assert loss.item() < 1e-8
    other = "sample" if prediction_type != "sample" else "epsilon"
    wrong = training_loss(_bayes_denoiser(other), SCHEDULE, x0, generator, prediction_type=prediction_type)
    assert wrong.item() > 0.01


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_the_samplers_conversion_inverts_the_training_target(prediction_type):
    x0, noise = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    t = torch.full((6,), 420)
    xt = q_sample(SCHEDULE, x0, t, noise)
    target = training_target(prediction_type, SCHEDULE, x0, t, noise)
    got_x0, got_eps = split_prediction(prediction_type, target, xt, float(SCHEDULE.alphas_cumprod[420]))
    torch.testing.assert_close(got_x0, x0)
    torch.testing.assert_close(got_eps, noise)


def test_timesteps_are_uniform():
    t = sample_timesteps(50_000, 10, torch.Generator().manual_seed(0))
    counts = np.bincount(t.numpy(), minlength=10)
    assert chisquare(counts).pvalue > 1e-3 and t.min() == 0 and t.max() == 9


def test_label_dropout_replaces_that_fraction_of_labels_with_the_null_label():
    seen = []

    def model(xt, t, labels):
        seen.append(labels)
        return torch.zeros_like(xt)

    training_loss(
        model,
        SCHEDULE,
        torch.zeros(20_000, 2),
        torch.Generator().manual_seed(0),
        labels=torch.ones(20_000, dtype=torch.long),
        label_dropout=0.3,
        null_label=5,
    )
    dropped = (seen[0] == 5).float().mean().item()
    assert dropped == pytest.approx(0.3, abs=0.015)
    assert set(seen[0].unique().tolist()) == {1, 5}
