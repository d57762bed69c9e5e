"""``diffaudit screen``: prompts through the input screen, or a suite's catch rates per category."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audit.commands.exit_codes import FAIL, PASS
from audit.core.errors import ConfigError
from probes import Screener, catch_rates, load_suite


def screen_command(
    prompts: Sequence[str] = (),
    *,
    file: Path | None = None,
    suite: str | None = None,
    categories: Sequence[str] | None = None,
    terms: Path | None = None,
) -> tuple[list[str], int]:
    """One line per prompt (verdict, category, prompt); for an unsafe suite, counts only. Exit 1 if any is blocked."""
    try:
        screener = Screener(categories or None, terms)
    except ValueError as exc:
        raise ConfigError(f"--category: {exc}") from None
    if suite is not None:
        loaded = load_suite(suite)
        items = loaded.expand()
        by = next((a for a in ("categories", *loaded.about) if items and a in items[0].attributes), None)
        if loaded.screening.mode == "record" and by is not None:
            # Suites of unsafe prompts (I2P): counts only, so explicit text stays out of terminals and logs.
            table = catch_rates(items, screener, by=by)
            blocked = sum(screener.screen(item.prompt).blocked for item in items)
            return [table.to_string(index=False), f"{blocked} of {len(items)} prompts would be blocked"], (
                FAIL if blocked else PASS
            )
        texts = [item.prompt for item in items]
    elif file is not None:
        try:
            texts = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read ({exc.strerror})") from None
    else:
        texts = list(prompts)
    if not texts:
        raise ConfigError("screen: give prompts, --file or --suite")
    verdicts = [screener.screen(text) for text in texts]
    lines = [
        f"{'blocked' if v.blocked else 'pass'}\t{v.category or '-'}\t{text}"
        for v, text in zip(verdicts, texts, strict=True)
    ]
    return lines, FAIL if any(v.blocked for v in verdicts) else PASS
