"""The fast sampling path as far as a CPU can check it: device/dtype choice, channels-last, OOM back-off."""

from __future__ import annotations

import pytest
import torch

from generators.ddpm import (
    DDIMScheduler,
    NoiseSchedule,
    PreparedDenoiser,
    SamplingOptions,
    as_dtype,
    map_halving_on_oom,
    sample,
)
from tests.generators.ddpm.tiny_unet import tiny_unet


@pytest.fixture(scope="module")
def unet():
    return tiny_unet(attention_resolutions=(4,))


def test_the_library_runs_where_it_is_told_and_names_a_bad_dtype(unet):
    prepared = PreparedDenoiser(unet, SamplingOptions())
    assert prepared.device == torch.device("cpu") and prepared.dtype == torch.float32
    assert as_dtype("bfloat16") is torch.bfloat16 and as_dtype(torch.float16) is torch.float16
    with pytest.raises(ValueError, match="float8"):
        as_dtype("float8")


def test_half_precision_network_keeps_a_float32_sample(unet):
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([10, 500])
    full = PreparedDenoiser(unet, SamplingOptions(device="cpu", dtype="float32"))
    half = PreparedDenoiser(unet, SamplingOptions(device="cpu", dtype="bfloat16"))
    with torch.no_grad():
        a, b = full(x, t), half(x, t)
    assert a.dtype == b.dtype == torch.float32
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(b, a, rtol=0.1, atol=0.1)  # bf16 has 8 bits of mantissa
    assert not torch.equal(a, b)  # ... and the network really ran in bf16


def test_channels_last_gives_the_same_images(unet):
    schedule = NoiseSchedule.make()
    outputs = []
    for channels_last in (False, True):
        model = PreparedDenoiser(unet, SamplingOptions(device="cpu", channels_last=channels_last))
        generators = [torch.Generator().manual_seed(s) for s in (0, 1)]
        outputs.append(sample(model, DDIMScheduler(schedule), generators, (3, 8, 8), num_inference_steps=3))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-4)


def test_cuda_graph_needs_cuda(unet):
    with pytest.raises(ValueError, match="cuda_graph needs a CUDA device"):
        PreparedDenoiser(unet, SamplingOptions(device="cpu", cuda_graph=True))


class _MemoryLimited(torch.nn.Module):
    """A network on a device that holds at most ``limit`` images: larger batches run out of memory."""

    def __init__(self, inner: torch.nn.Module, limit: int) -> None:
        super().__init__()
        self.inner, self.limit, self.batches = inner, limit, []

    def forward(self, x, t, labels=None):
        self.batches.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError(f"tried to allocate {x.shape[0]} images")
        return self.inner(x, t, labels)


def test_out_of_memory_halves_the_batch_and_keeps_every_image(unet):
    schedule = NoiseSchedule.make()
    seeds = list(range(7))

    def images(model, batch_size):
        def work(start, stop):
            generators = [torch.Generator().manual_seed(s) for s in seeds[start:stop]]
            return list(sample(model, DDIMScheduler(schedule, eta=1.0), generators, (3, 8, 8), num_inference_steps=3))

        return map_halving_on_oom(work, len(seeds), batch_size)

    limited = _MemoryLimited(unet, limit=2)
    got, fitted = images(limited, 8)
    expected, _ = images(unet, 7)
    assert fitted == 2
    assert limited.batches[:3] == [7, 4, 2]  # 7 failed, 4 failed, 2 fits
    torch.testing.assert_close(torch.stack(got), torch.stack(expected), rtol=1e-5, atol=1e-5)


def test_out_of_memory_at_batch_one_is_raised(unet):
    limited = _MemoryLimited(unet, limit=0)

    def work(start, stop):
        return [limited(torch.zeros(stop - start, 3, 8, 8), torch.zeros(stop - start, dtype=torch.long))]

    with pytest.raises(torch.OutOfMemoryError):
        map_halving_on_oom(work, 4, 4)
