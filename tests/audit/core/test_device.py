"""The one device chooser: auto finds the best device present, a named device is checked, dtypes follow."""

from __future__ import annotations

import pytest
import torch

from audit.core.device import pick_device, pick_dtype


def test_auto_picks_the_best_device_present_and_cuda_by_name_needs_one():
    if torch.cuda.is_available():
        assert pick_device("auto") == "cuda"
        assert pick_device("cuda:0") == "cuda:0"
        assert pick_dtype("auto", "cuda") in (torch.bfloat16, torch.float16)
    else:
        assert pick_device("auto") in ("cpu", "mps")
        with pytest.raises(ValueError, match="no CUDA device"):
            pick_device("cuda")
    assert pick_device("cpu") == "cpu"


def test_dtype_is_float32_on_the_cpu_unless_named():
    assert pick_dtype("auto", "cpu") == torch.float32
    assert pick_dtype("bfloat16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="float8"):
        pick_dtype("float8", "cpu")
