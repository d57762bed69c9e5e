"""Classifier-free guidance (Ho & Salimans 2022): one network, conditional and unconditional in one batch."""

from __future__ import annotations

from collections.abc import Callable

import torch

Denoiser = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def guided_output(
    denoiser: Denoiser,
    sample: torch.Tensor,
    timestep: torch.Tensor,
    labels: torch.Tensor | None,
    *,
    guidance_scale: float = 1.0,
    null_label: int | None = None,
) -> torch.Tensor:
    """The network output, pushed ``guidance_scale`` times from the unconditional towards the conditional one.

    ``guidance_scale`` 1 (or no labels) is the plain conditional model; 0 the unconditional one.
    The null label is the class index the network saw when training dropped the label.
    """
    t = timestep.expand(sample.shape[0]) if timestep.ndim == 0 else timestep
    if labels is None or guidance_scale == 1.0:
        return denoiser(sample, t, labels)
    if null_label is None:
        raise ValueError("classifier-free guidance needs the model's null label (it was not trained with dropout)")
    null = torch.full_like(labels, null_label)
    if guidance_scale == 0.0:
        return denoiser(sample, t, null)
    both = denoiser(torch.cat([sample, sample]), torch.cat([t, t]), torch.cat([labels, null]))
    conditional, unconditional = both.chunk(2)
    return unconditional + guidance_scale * (conditional - unconditional)
