"""Rendered data sets of the sandbox world: many portraits with their true attributes, reproducible by seed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from generators.sandbox.renderer import SIZE, render
from generators.sandbox.world import Portrait, Shares, draw_portrait, occupations


def portrait_rng(seed: int, index: int) -> Any:
    """The numpy Generator of portrait ``index`` of a data set drawn with ``seed`` (independent streams)."""
    import numpy as np

    return np.random.default_rng([seed, index])


def render_dataset(
    count: int,
    seed: int,
    *,
    table: Mapping[str, Shares] | None = None,
    names: list[str] | None = None,
    size: int = SIZE,
) -> tuple[Any, list[Portrait]]:
    """``count`` portraits as a uint8 array ``(count, size, size, 3)`` and their Portraits.

    Occupations take turns (portrait i is of ``names[i % len(names)]``, default every occupation),
    so every class is equally represented; attributes follow ``table`` (default: the planted bias).
    """
    import numpy as np

    names = names or occupations()
    pixels = np.empty((count, size, size, 3), dtype=np.uint8)
    portraits = []
    for i in range(count):
        rng = portrait_rng(seed, i)
        portrait = draw_portrait(names[i % len(names)], rng, table)
        pixels[i] = np.asarray(render(portrait, size, noise_seed=int(rng.integers(2**31))))
        portraits.append(portrait)
    return pixels, portraits
