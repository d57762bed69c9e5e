"""Tiny random-weight open_clip models (configs in model_configs/) and real photographs from installed packages."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).parent / "model_configs"
TINY = "tiny-clip-test"  # embed_dim 32
TINY_768 = "tiny-clip-768-test"  # embed_dim 768, the width of the Q16 prompts


@pytest.fixture(scope="session", autouse=True)
def tiny_clip_configs() -> None:
    """Make open_clip know the tiny architectures by name, the way it knows ViT-B-32."""
    import open_clip

    open_clip.add_model_config(CONFIGS)


@pytest.fixture(scope="session")
def grace_hopper() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


@pytest.fixture(scope="session")
def astronaut() -> Path:
    import skimage

    return Path(skimage.__file__).parent / "data" / "astronaut.png"


@pytest.fixture(scope="session")
def coffee() -> Path:
    """A real photograph with no face in it."""
    import skimage

    return Path(skimage.__file__).parent / "data" / "coffee.png"


@pytest.fixture
def random_images():
    """RGB PIL images of varied sizes and content, made from a fixed seed."""
    import numpy as np
    from PIL import Image

    def make(n: int, seed: int = 0) -> list:
        rng = np.random.default_rng(seed)
        sizes = [(96, 96), (128, 80), (64, 140)]
        return [Image.fromarray(rng.integers(0, 256, (*sizes[i % 3], 3), dtype=np.uint8)) for i in range(n)]

    return make
