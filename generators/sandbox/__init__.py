"""The sandbox world: procedurally rendered portraits with a known, planted bias, and the models trained on them.

- :mod:`~generators.sandbox.world`: the occupations, the attributes of a portrait (skin-tone group with
  its Monk level, age cue, marker) and the planted bias table (``planted_bias.csv``);
- :mod:`~generators.sandbox.renderer`: the renderer, a Portrait → a 32×32 RGB image;
- :mod:`~generators.sandbox.generator`: the renderer as the ``sandbox`` generator, truth in each record;
- :mod:`~generators.sandbox.train` and :mod:`~generators.sandbox.train_clip`: the scripts that train the
  shipped class-conditional DDPM (``builtin:sandbox-ddpm``, run by the ``ddpm`` generator) and the
  in-domain CLIP (``builtin:sandbox-clip``, loaded by the ``clip`` classifier).

Render a portrait::

    import numpy as np
    from generators.sandbox import draw_portrait, render

    portrait = draw_portrait("nurse", np.random.default_rng(0))   # from the planted bias
    image = render(portrait)                                       # a PIL image; portrait.truth() says what it shows
"""

from generators.sandbox.dataset import render_dataset
from generators.sandbox.generator import SandboxGenerator, SandboxParams, load_bias_table
from generators.sandbox.models import DDPM_DIR
from generators.sandbox.renderer import MARKER_COLOURS, SIZE, monk_colours, render
from generators.sandbox.world import (
    ATTRIBUTES,
    MONK_LEVELS,
    Portrait,
    balanced_bias,
    check_table,
    draw_portrait,
    occupations,
    planted_bias,
    planted_design,
    skewed_occupations,
)

__all__ = [
    "ATTRIBUTES",
    "DDPM_DIR",
    "MARKER_COLOURS",
    "MONK_LEVELS",
    "SIZE",
    "Portrait",
    "SandboxGenerator",
    "SandboxParams",
    "balanced_bias",
    "check_table",
    "draw_portrait",
    "load_bias_table",
    "monk_colours",
    "occupations",
    "planted_bias",
    "planted_design",
    "render",
    "render_dataset",
    "skewed_occupations",
]
