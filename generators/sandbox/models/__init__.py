"""The sandbox models the project trains itself and ships: where they live in the package."""

from pathlib import Path

# The class-conditional DDPM (config.json, ema.safetensors, training.json); see README.md here.
DDPM_DIR = Path(__file__).resolve().parent / "ddpm"
