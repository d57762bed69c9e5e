"""``diffaudit configs``: the run configs that ship with diffaudit, one line each."""

from __future__ import annotations

from collections.abc import Iterator

from audit.builtin_configs import DEFAULT, builtin_configs
from audit.config import load_config
from audit.core.run_store import seeds_for


def list_lines() -> Iterator[str]:
    """Name, generator, images (per suite), policy and design of each built-in config, tab-separated."""
    from audit.runner import expand_probes, generator_for

    for name in builtin_configs():
        config = load_config(name)
        items, seeds = expand_probes(config)
        images = sum(len(seeds_for(item, seeds)) for item in items)
        suites = ", ".join(f"{suite} x {len(s)} seeds" for suite, s in seeds.items())
        design = "sequential, at most" if config.sampling.sequential else "fixed,"
        default = " (the default: `diffaudit run` with no config)" if name == DEFAULT else ""
        yield (
            f"{name}{default}\t{generator_for(config).generator_id}\t{suites}\t{design} {images:,} images"
            f"\tpolicy {config.policy}"
        )
