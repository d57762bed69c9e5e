"""The one place that chooses where models run: device and compute dtype.

Every model in the project (diffusers pipelines, our DDPM, classifiers) is
given a concrete device by the code that builds it; ``auto`` is resolved
here. torch is imported only when ``auto`` must be resolved, so light stages
never pay for it.
"""

from __future__ import annotations

from typing import Any

DTYPE_NAMES = ("float32", "bfloat16", "float16")


def pick_device(requested: str = "auto") -> str:
    """``requested`` itself, or for ``auto`` the best device present: CUDA, then Apple MPS, then CPU.

    A CUDA device asked for by name on a machine without one is a ValueError.
    """
    if requested != "auto" and not requested.startswith("cuda"):
        return requested
    import torch

    if requested != "auto":
        if not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} requested, but no CUDA device is available")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str) -> Any:
    """The compute dtype (a ``torch.dtype``): for ``auto``, bfloat16 on GPUs that have it, else float16 on
    CUDA/MPS, and float32 on the CPU (where half precision is slower, not faster)."""
    import torch

    if requested != "auto":
        if requested not in DTYPE_NAMES:
            raise ValueError(f"unknown dtype {requested!r}; choose auto, {', '.join(DTYPE_NAMES)}")
        return getattr(torch, requested)
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if kind == "mps":
        return torch.float16
    return torch.float32
