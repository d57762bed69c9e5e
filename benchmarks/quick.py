"""What the benchmarks' ``--quick`` modes share: a run config cut down to a few seeds a prompt.

A quick mode runs a benchmark end to end in seconds, so that CI can run every benchmark
(tests/benchmarks/test_quick_modes.py); its figures are not the benchmark's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

QUICK_SEEDS = 2


def with_seeds(config: Any, seeds: int = QUICK_SEEDS) -> Any:
    """``config`` (a RunConfig) with ``seeds`` seeds per prompt in every suite."""
    return dataclasses.replace(config, probes=[dataclasses.replace(p, seeds=seeds) for p in config.probes])
