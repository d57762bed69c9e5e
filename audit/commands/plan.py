"""``diffaudit plan``: images per prompt a suite needs to detect a deviation."""

from __future__ import annotations

from audit.commands.exit_codes import PASS
from audit.core.errors import ConfigError
from audit.stats import plan
from probes import load_suite


def plan_command(
    suites: list[str],
    *,
    tv: float = 0.15,
    power: float = 0.8,
    alpha: float = 0.05,
    categories: int = 2,
    unknown_rate: float = 0.0,
) -> tuple[list[str], int]:
    """Images per prompt each suite needs to detect a deviation of ``tv`` with ``power``."""
    header = ("suite", "prompts", "seeds now", "images/prompt", "run-controlled", "total images")
    rows = [header]
    for name in suites:
        suite = load_suite(name)
        prompts = len(suite.expand())
        try:
            result = plan(prompts, tv=tv, categories=categories, alpha=alpha, power=power, unknown_rate=unknown_rate)
        except ValueError as exc:
            raise ConfigError(f"plan: {exc}") from None
        rows.append(
            (
                suite.name,
                str(prompts),
                str(len(suite.default_seeds())),
                str(result["images_per_prompt"]),
                str(result["images_per_prompt_run_controlled"]),
                str(result["total_images_run_controlled"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        f"to detect a deviation of {tv:g} TV from the reference over {categories} labels "
        f"with power {power:g} at level {alpha:g} (abstentions {unknown_rate:.0%}):"
    ]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.append("run-controlled: per prompt at level alpha/prompts, so the power holds with every prompt tested")
    return lines, PASS
