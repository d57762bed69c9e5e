"""A tiny random-weight DCGAN generator of our own, for tests and the ``python`` generator's example.

Built like the DCGAN of Radford et al. (transposed convolutions, batch norm,
tanh), 8-d latent to 16×16 RGB, with weights drawn from a fixed seed: the same
network in every process, in under a second on a CPU. Channel widths are
multiples of 16 so the CPU's vector kernels treat every image of a batch alike.
"""

from __future__ import annotations

from typing import Any


def tiny_dcgan(latent_dim: int = 8, width: int = 16, seed: int = 0) -> Any:
    """The network: ``(N, latent_dim, 1, 1)`` latents to ``(N, 3, 16, 16)`` images in [-1, 1]."""
    import torch
    from torch import nn

    rng = torch.Generator().manual_seed(seed)
    net = nn.Sequential(
        nn.ConvTranspose2d(latent_dim, width * 2, 4, 1, 0, bias=False),  # 4×4
        nn.BatchNorm2d(width * 2),
        nn.ReLU(),
        nn.ConvTranspose2d(width * 2, width, 4, 2, 1, bias=False),  # 8×8
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False),  # 16×16
        nn.Tanh(),
    )
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.ConvTranspose2d):
                module.weight.copy_(torch.randn(module.weight.shape, generator=rng) * 0.3)
            elif isinstance(module, nn.BatchNorm2d):
                module.running_mean.copy_(torch.randn(module.num_features, generator=rng) * 0.1)
                module.running_var.copy_(torch.rand(module.num_features, generator=rng) + 0.5)
    # Eval mode: batch norm uses its running statistics, so an image does not depend on its batch.
    return net.eval()


class TinyPromptModel:
    """A prompt-conditioned toy: the prompt's bytes set a colour, the image's generator adds its noise.

    For tests of ``conditioning: prompt``: ``model(prompts, generators)`` returns (N, 3, 16, 16) in [0, 1].
    """

    def __call__(self, prompts: list[str], generators: list[Any]) -> Any:
        import torch

        images = []
        for prompt, rng in zip(prompts, generators, strict=True):
            data = prompt.encode("utf-8") or b"\0"
            colour = torch.tensor([sum(data[i::3]) % 256 / 255.0 for i in range(3)]).view(3, 1, 1)
            images.append((0.7 * colour + 0.3 * torch.rand((3, 16, 16), generator=rng)).clamp(0, 1))
        return torch.stack(images)


def tiny_prompt_model() -> TinyPromptModel:
    """The factory of :class:`TinyPromptModel` (a ``module:callable`` target)."""
    return TinyPromptModel()
