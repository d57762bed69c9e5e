"""The DCGAN face generator of the PyPI package ``gan-face-generate`` (1.1.1, MIT), as a ``python`` model.

The package (Chien Liu; https://github.com/chien-liu/DCGAN-PyTorch) ships a
DCGAN trained on DigiFace-1M — 100-d latent, 64×64 RGB, tanh output — with its
weights inside the wheel (``gan_face_generate/weights.tar``, 14 MB, key
``netG_state_dict``). Its declared dependencies (wandb, matplotlib, requests,
tqdm, platformdirs) serve its training and plotting scripts, not the network,
and it pins Python < 3.13, so install it without them::

    .venv/bin/pip install --no-deps gan-face-generate==1.1.1

``diffaudit run dcgan-faces`` audits it; the factory below is also declared as
the ``dcgan-faces`` entry point of the ``diffaudit.models`` group.
"""

from __future__ import annotations

import hashlib
from importlib import metadata, resources
from typing import Any

from audit.core.errors import DiffauditError, ModelNotFoundError

PACKAGE = "gan_face_generate"
DISTRIBUTION = "gan-face-generate"
VERSION = "1.1.1"
INSTALL = f"pip install --no-deps {DISTRIBUTION}=={VERSION}"
WEIGHTS = "weights.tar"
STATE_KEY = "netG_state_dict"
# The architecture's sizes, as the package's own inference script builds it.
LATENT_DIM, CHANNELS, FEATURES = 100, 3, 64


def gan_face_available() -> bool:
    """Whether the package and its weights file are installed."""
    try:
        return (resources.files(PACKAGE) / WEIGHTS).is_file()
    except ModuleNotFoundError:
        return False


def dcgan_face_generator() -> Any:
    """The package's ``Generator(ngpu=0, nc=3, nz=100, ngf=64)`` with its pretrained weights, on the CPU.

    Weights load with ``torch.load(weights_only=True)``: tensors only, no pickled code.
    """
    import torch

    if not gan_face_available():
        raise ModelNotFoundError(
            f"the DCGAN face generator is not installed: run `{INSTALL}` (its weights ship in the wheel)"
        )
    from gan_face_generate.models import Generator

    path = resources.files(PACKAGE) / WEIGHTS
    with resources.as_file(path) as weights:
        checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if not isinstance(checkpoint, dict) or STATE_KEY not in checkpoint:
        raise DiffauditError(f"{path}: expected a checkpoint with key {STATE_KEY!r}")
    network = Generator(0, CHANNELS, LATENT_DIM, FEATURES)
    network.load_state_dict(checkpoint[STATE_KEY])
    # Recorded with every image by the `python` generator (see generators/python_model.py).
    network.model_info = {
        "package": f"{DISTRIBUTION} {metadata.version(DISTRIBUTION)}",
        "weights": f"{PACKAGE}/{WEIGHTS}",
        "weights_sha256": digest,
    }
    return network.eval()


dcgan_face_generator.from_hub = False  # type: ignore[attr-defined]  # its weights ship inside the wheel
