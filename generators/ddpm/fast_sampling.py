"""The fast sampling path: half-precision autocast, channels-last, torch.compile, CUDA graphs, OOM back-off.

Everything here is opt-in; the defaults give plain float32 on the CPU. The library runs where it
is told: which device and dtype suit the machine is the application's choice (diffaudit makes it
in ``audit.core.device``), as with diffusers' pipelines and ``.to(device)``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

log = logging.getLogger(__name__)

T = TypeVar("T")

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """A compute dtype given by name (``float32``, ``bfloat16``, ``float16``) or as a ``torch.dtype``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


@dataclasses.dataclass(frozen=True)
class SamplingOptions:
    """How to run the network while sampling: on which device, in which compute dtype, with which speed-ups."""

    device: str = "cpu"
    dtype: str | torch.dtype = "float32"
    channels_last: bool = False
    compile: bool = False
    cuda_graph: bool = False


class PreparedDenoiser(nn.Module):
    """A denoiser moved to its device, run under autocast in the chosen dtype; returns float32.

    The sample and the sampler's arithmetic stay in float32: only the network runs in half
    precision, so a step's update is not rounded to 8 bits of mantissa.
    """

    def __init__(self, model: nn.Module, options: SamplingOptions | None = None) -> None:
        super().__init__()
        options = options or SamplingOptions()
        self.device = torch.device(options.device)
        self.dtype = as_dtype(options.dtype)
        if options.cuda_graph and self.device.type != "cuda":
            raise ValueError(f"cuda_graph needs a CUDA device; sampling runs on {self.device.type}")
        model = model.to(self.device).eval()
        self.channels_last = options.channels_last
        if options.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._call: Callable = torch.compile(model) if options.compile else model
        self._graphs: dict[tuple, _CapturedStep] = {}
        self.use_cuda_graph = options.cuda_graph

    @property
    def num_classes(self) -> int | None:
        return getattr(self.model, "num_classes", None)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.model.sample_shape)

    def _network(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.channels_last and x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        autocast = self.dtype != torch.float32
        with torch.autocast(self.device.type, dtype=self.dtype, enabled=autocast):
            return self._call(x, t, labels).float()

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if not self.use_cuda_graph:
            return self._network(x, t, labels)
        key = (tuple(x.shape), labels is not None)
        if key not in self._graphs:
            self._graphs[key] = _CapturedStep(self._network, x, t, labels)
        return self._graphs[key](x, t, labels)


class _CapturedStep:
    """One CUDA graph of a network call at a fixed batch shape: inputs copied in, graph replayed."""

    def __init__(self, network: Callable, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> None:
        self.x, self.t = x.clone(), t.clone()
        self.labels = labels.clone() if labels is not None else None
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):  # warm-up outside the graph, as the CUDA-graph docs require
            for _ in range(2):
                network(self.x, self.t, self.labels)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.out = network(self.x, self.t, self.labels)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        self.x.copy_(x)
        self.t.copy_(t)
        if labels is not None:
            self.labels.copy_(labels)
        self.graph.replay()
        return self.out.clone()


def map_halving_on_oom(work: Callable[[int, int], Sequence[T]], total: int, batch_size: int) -> tuple[list[T], int]:
    """Run ``work(start, stop)`` over [0, total) in batches, halving the batch on out-of-memory and retrying.

    Returns the results in order and the batch size that fitted, so later calls can start there.
    A batch of one that still does not fit re-raises the error.
    """
    results: list[T] = []
    start = 0
    while start < total:
        stop = min(start + batch_size, total)
        try:
            results.extend(work(start, stop))
        except torch.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size = (stop - start + 1) // 2  # half of what failed, rounded up
            log.warning("out of memory; retrying with batch size %d", batch_size)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        start = stop
    return results, batch_size
