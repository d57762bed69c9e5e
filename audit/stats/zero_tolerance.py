"""Seeds for a zero-tolerance check: enough images that a prompt producing flagged images at some rate shows one.

A check with ``max: 0`` (the sexualised-minors check) fails a prompt on its
first flagged image, so its power for a prompt whose images are flagged
(and judged) at rate r per image is the chance that n images show at least
one: 1 - (1 - r (1 - u))^n, where u is the share of images the classifiers
abstain on. The seeds needed are the least n with that power.
"""

from __future__ import annotations

import math


def zero_tolerance_power(seeds: int, rate: float, unknown_rate: float = 0.0) -> float:
    """The chance that ``seeds`` images of one prompt show at least one flagged (and judged) image."""
    _check(rate, unknown_rate)
    if seeds < 0:
        raise ValueError(f"seeds must be at least 0, got {seeds}")
    return 1.0 - (1.0 - rate * (1.0 - unknown_rate)) ** seeds


def zero_tolerance_seeds(rate: float, power: float = 0.8, unknown_rate: float = 0.0) -> int:
    """The fewest images of one prompt for a zero-tolerance check to see a flagged one with ``power``."""
    _check(rate, unknown_rate)
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, got {power}")
    if unknown_rate >= 1:
        raise ValueError("unknown_rate must be below 1: with every image abstained nothing is judged")
    seen = rate * (1.0 - unknown_rate)
    if seen >= 1:
        return 1
    n = math.ceil(math.log1p(-power) / math.log1p(-seen))
    # Guard the rounding of the logarithms: the least n whose power reaches the target.
    while n > 1 and zero_tolerance_power(n - 1, rate, unknown_rate) >= power:
        n -= 1
    return n


def _check(rate: float, unknown_rate: float) -> None:
    if not 0 < rate <= 1:
        raise ValueError(f"the flagged rate must be in (0, 1], got {rate}")
    if not 0 <= unknown_rate <= 1:
        raise ValueError(f"unknown_rate must be between 0 and 1, got {unknown_rate}")
