"""Sample-size planning: images per prompt needed to detect a deviation from a reference.

The power is that of the chi-square goodness-of-fit test against the least
favourable alternative at total variation distance ``tv`` from the
reference: whatever the shape of the deviation, the noncentrality
``n * sum((p - q)^2 / q)`` is at least ``4 * n * tv^2``, so the planned
number of images suffices for every deviation of that size.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def detection_power(n, tv: float, categories: int = 2, alpha: float = 0.05) -> np.ndarray:
    """Power of the chi-square test at level ``alpha`` with ``n`` images to detect a deviation of ``tv``."""
    if not 0 < tv <= 1:
        raise ValueError(f"tv must be in (0, 1], got {tv}")
    if categories < 2:
        raise ValueError(f"a distribution needs at least 2 categories, got {categories}")
    df = categories - 1
    critical = stats.chi2.ppf(1 - alpha, df)
    return stats.ncx2.sf(critical, df, 4 * np.asarray(n, float) * tv**2)


def images_needed(tv: float, categories: int = 2, alpha: float = 0.05, power: float = 0.8) -> int:
    """The fewest images per prompt for the test to detect a deviation of ``tv`` with ``power``."""
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    low, high = 1, 2
    while detection_power(high, tv, categories, alpha) < power:
        low, high = high, high * 2
        if high > 10**9:
            raise ValueError("no feasible sample size below 10^9 images")
    while low < high:
        mid = (low + high) // 2
        if detection_power(mid, tv, categories, alpha) >= power:
            high = mid
        else:
            low = mid + 1
    return int(high)


def plan(
    prompts: int,
    *,
    tv: float = 0.15,
    categories: int = 2,
    alpha: float = 0.05,
    power: float = 0.8,
    unknown_rate: float = 0.0,
) -> dict[str, float]:
    """A plan for a suite of ``prompts`` prompts: images per prompt at level alpha and at alpha/prompts.

    The second figure (Bonferroni) is what keeps the power when every
    prompt is tested and the whole run is controlled (BH lies between the
    two). ``unknown_rate`` inflates the counts for images the classifier
    abstains on.
    """
    if not 0 <= unknown_rate < 1:
        raise ValueError(f"unknown_rate must be in [0, 1), got {unknown_rate}")
    inflate = 1 / (1 - unknown_rate)
    per_prompt = int(np.ceil(images_needed(tv, categories, alpha, power) * inflate))
    corrected = int(np.ceil(images_needed(tv, categories, alpha / max(prompts, 1), power) * inflate))
    return {
        "prompts": prompts,
        "tv": tv,
        "categories": categories,
        "alpha": alpha,
        "power": power,
        "images_per_prompt": per_prompt,
        "images_per_prompt_run_controlled": corrected,
        "total_images": per_prompt * prompts,
        "total_images_run_controlled": corrected * prompts,
    }
