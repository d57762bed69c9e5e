"""What the sandbox training scripts share: a command line built from their recipe, and what they record of a run."""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from typing import Any

# Options that say where things go or how chatty to be, not how the model is made.
_NOT_RECIPE = ("out", "work", "quiet", "command")


def recipe_parser(prog: str, description: str, defaults: dict[str, Any], *, out: str) -> argparse.ArgumentParser:
    """``--out`` plus one option per recipe default (``--batch-size`` for ``batch_size``), device, threads, quiet."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--out", default=out, help="the folder the shipped model is written to")
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    parser.add_argument("--quiet", action="store_true", help="no progress output")
    return parser


def parse_recipe(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """The parsed options, with ``command``: the command line that reproduces the run."""
    args = parser.parse_args(argv)
    args.command = f"{parser.prog} " + shlex.join(sys.argv[1:] if argv is None else argv)
    return args


def run_record(args: argparse.Namespace) -> dict[str, Any]:
    """The command that was run, its recipe, and the software and machine it ran on."""
    import torch

    return {
        "command": args.command,
        "arguments": {k: v for k, v in vars(args).items() if k not in _NOT_RECIPE},
        "seed": args.seed,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
