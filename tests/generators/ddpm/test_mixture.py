"""The whole loop, checked by statistics: a DDPM trained on a 0.7/0.3 mixture of two Gaussians samples it back.

Data: N((-1, 0), 0.25² I) with weight 0.7 and N((+1, 0), 0.25² I) with weight 0.3; the components
are 8 standard deviations apart, so a sample's component is the sign of its first coordinate.
One class-conditional MLP denoiser is trained with label dropout 0.2 (2000 AdamW steps, batch 256,
about 12 s on one CPU thread); its unconditional samples recover the weights, and its guided
samples land in the component they were asked for.

The tolerance comes from the training, not only the sampling: over training seeds 0-7 this recipe's
minority weight ranged 0.276-0.333 (largest error 0.033, smallest chi-square p 0.0013 at n = 2000),
so the test allows 0.05 and alpha 1e-4; a model that ignored the weights (0.5/0.5) is rejected at
p < 1e-10.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from generators.ddpm import (
    DDIMScheduler,
    DDPMScheduler,
    MLPConfig,
    MLPDenoiser,
    NoiseSchedule,
    Trainer,
    TrainingConfig,
    sample,
)

WEIGHTS = np.array([0.7, 0.3])
MEANS = torch.tensor([[-1.0, 0.0], [1.0, 0.0]])
N_SAMPLES = 2000
# Stated tolerance: the goodness-of-fit test must not reject 0.7/0.3 at the 0.01% level, and each
# weight must be within 0.05 of the truth (binomial standard error at n = 2000: 0.010).
ALPHA = 1e-4
WEIGHT_TOLERANCE = 0.05


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    rng = torch.Generator().manual_seed(0)
    labels = (torch.rand(4000, generator=rng) < WEIGHTS[1]).long()
    data = MEANS[labels] + 0.25 * torch.randn(4000, 2, generator=rng)
    torch.manual_seed(0)
    model = MLPDenoiser(MLPConfig(dim=2, hidden=64, depth=3, num_classes=2))
    config = TrainingConfig(steps=2000, batch_size=256, lr=3e-3, ema_decay=0.995, label_dropout=0.2)
    trainer = Trainer(model, NoiseSchedule.make("linear", 1000), config, device="cpu")
    trainer.fit(data, labels, progress=False)
    return trainer


def _component(points: torch.Tensor) -> torch.Tensor:
    return (points[:, 0] > 0).long()


def test_unconditional_samples_recover_the_mixture_weights(trained):
    model = trained.ema.module.eval()
    # Ancestral sampling as in Ho et al.; no x0 clipping, the data are not images in [-1, 1].
    scheduler = DDPMScheduler(trained.schedule, clip_sample=False)
    generators = [torch.Generator().manual_seed(seed) for seed in range(N_SAMPLES)]
    points = sample(model, scheduler, generators, (2,), num_inference_steps=100)
    counts = np.bincount(_component(points).numpy(), minlength=2)
    assert chisquare(counts, WEIGHTS * N_SAMPLES).pvalue > ALPHA, counts
    assert np.abs(counts / N_SAMPLES - WEIGHTS).max() < WEIGHT_TOLERANCE, counts
    # The test has power: equal weights are rejected outright.
    assert chisquare(counts, [N_SAMPLES / 2, N_SAMPLES / 2]).pvalue < 1e-10
    # And the samples have the components' spread, not a collapsed mode.
    assert points[:, 1].std().item() == pytest.approx(0.25, rel=0.2)


@pytest.mark.parametrize("label", [0, 1])
def test_guided_samples_land_in_their_own_component(trained, label):
    model = trained.ema.module.eval()
    scheduler = DDIMScheduler(trained.schedule, clip_sample=False)
    generators = [torch.Generator().manual_seed(seed) for seed in range(500)]
    points = sample(
        model,
        scheduler,
        generators,
        (2,),
        num_inference_steps=50,
        labels=torch.full((500,), label),
        guidance_scale=3.0,
        null_label=model.num_classes,
    )
    assert (_component(points) == label).float().mean().item() > 0.97
    # Guidance scale 0 is the unconditional model: the same seeds then fall by the mixture weights.
    unguided = sample(
        model,
        scheduler,
        [torch.Generator().manual_seed(seed) for seed in range(500)],
        (2,),
        num_inference_steps=50,
        labels=torch.full((500,), label),
        guidance_scale=0.0,
        null_label=model.num_classes,
    )
    assert (_component(unguided) == label).float().mean().item() == pytest.approx(WEIGHTS[label], abs=0.08)
