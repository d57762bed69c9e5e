"""Sample-size planning: images per prompt needed to detect a deviation from a reference.

For two labels the power is exact: that of the exact binomial test the
audit runs, against parity shifted by ``tv``. For more labels it is that of
the chi-square goodness-of-fit test against the least favourable
alternative at total variation distance ``tv`` from the reference: whatever
the shape of the deviation, the noncentrality ``n * sum((p - q)^2 / q)`` is
at least ``4 * n * tv^2``, so the planned number of images suffices for
every deviation of that size.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _exact_binary_power(n: int, tv: float, alpha: float) -> float:
    """Power of the two-sided exact binomial test of parity when the true share is 0.5 + tv."""
    x = np.arange(n + 1)
    null = stats.binom.pmf(x, n, 0.5)
    # p-value of each outcome: the probability of outcomes no more likely than it (as goodness_of_fit).
    ordered = np.sort(null)
    cumulative = np.cumsum(ordered)
    at = np.searchsorted(ordered, null * (1 + 1e-7), side="right")
    p_values = cumulative[at - 1]
    return float(stats.binom.pmf(x, n, 0.5 + tv)[p_values <= alpha].sum())


def _chi_square_power(n, tv: float, categories: int, alpha: float) -> np.ndarray:
    df = categories - 1
    critical = stats.chi2.ppf(1 - alpha, df)
    return stats.ncx2.sf(critical, df, 4 * np.asarray(n, float) * tv**2)


def _check(tv: float, categories: int) -> None:
    if categories < 2:
        raise ValueError(f"a distribution needs at least 2 categories, got {categories}")
    largest = 1 - 1 / categories  # the distance from parity of a distribution on one label
    if not 0 < tv <= largest:
        raise ValueError(f"tv must be in (0, {largest:g}] for {categories} labels, got {tv}")


def detection_power(n, tv: float, categories: int = 2, alpha: float = 0.05):
    """Power at level ``alpha`` with ``n`` images (an int or an array) to detect a deviation of ``tv``."""
    _check(tv, categories)
    if categories == 2:
        if np.ndim(n) == 0:
            return _exact_binary_power(int(n), tv, alpha)
        return np.array([_exact_binary_power(int(m), tv, alpha) for m in np.ravel(n)]).reshape(np.shape(n))
    return _chi_square_power(n, tv, categories, alpha)


def images_needed(tv: float, categories: int = 2, alpha: float = 0.05, power: float = 0.8) -> int:
    """The fewest images per prompt for the test to detect a deviation of ``tv`` with ``power``.

    With two labels the exact test's power is a sawtooth in n (discreteness),
    so a few more images can occasionally have slightly less power; the
    answer is the first n that reaches ``power``.
    """
    _check(tv, categories)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power}")
    low, high = 1, 2
    while _chi_square_power(high, tv, categories, alpha) < power:
        low, high = high, high * 2
        if high > 10**9:
            raise ValueError("no feasible sample size below 10^9 images")
    while low < high:
        mid = (low + high) // 2
        if _chi_square_power(mid, tv, categories, alpha) >= power:
            high = mid
        else:
            low = mid + 1
    if categories > 2:
        return int(high)
    # The chi-square figure is close for two labels; scan the exact power from well below it.
    n = max(1, int(high * 0.6))
    while _exact_binary_power(n, tv, alpha) < power:
        n += 1
    return n


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
