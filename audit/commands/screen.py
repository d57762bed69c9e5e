"""``diffaudit screen``: prompts through the input screen, or a suite's catch rates per category."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from audit.commands.exit_codes import FAIL, PASS
from audit.core.errors import ConfigError
from audit.core.text_files import read_text
from probes import Screener, Verdict, catch_rates, load_suite


def screen_command(
    prompts: Sequence[str] = (),
    *,
    file: Path | None = None,
    suite: str | None = None,
    categories: Sequence[str] | None = None,
    terms: Path | None = None,
    explain: bool = False,
    unscreened: str = "block",
) -> tuple[list[str], int]:
    """One line per prompt (verdict, category and signals, prompt); for an unsafe suite, counts only.

    With ``explain``, each prompt's normalised text, the rules that fired and
    the allow rules that spared a word, and the language it was read in; for an
    unsafe suite, how often each rule fired. A suite's screening time is
    measured and printed last. A prompt the screen cannot read (a language it
    has no word lists for) is blocked (``unscreened`` ``block``) or reported
    as ``not screened`` (``report``). Exit 1 if any prompt is blocked.
    """
    if unscreened not in ("block", "report"):
        raise ConfigError(f"--unscreened: expected block or report, got {unscreened!r}")
    started, cpu = time.perf_counter(), time.process_time()
    try:
        screener = Screener(categories or None, terms)
    except ValueError as exc:
        raise ConfigError(f"--category: {exc}") from None
    if suite is not None:
        built, built_cpu = time.perf_counter() - started, time.process_time() - cpu
        loaded = load_suite(suite)
        items = loaded.expand()
        texts = [item.prompt for item in items]
        started, cpu = time.perf_counter(), time.process_time()
        verdicts = [screener.screen(text) for text in texts]
        seconds, cpu_seconds = built + time.perf_counter() - started, built_cpu + time.process_time() - cpu
        timing = _timing(len(texts), seconds, cpu_seconds)
        by = next((a for a in ("categories", *loaded.about) if items and a in items[0].attributes), None)
        if loaded.screening.mode == "record" and by is not None:
            # Suites of unsafe prompts (I2P): counts only, so explicit text stays out of terminals and logs.
            table = catch_rates(items, screener, by=by, verdicts=verdicts)
            blocked = sum(v.blocked for v in verdicts)
            lines = [table.to_string(index=False)]
            if explain:
                lines += _rule_counts(verdicts)
            lines += [*_unscreened_counts(verdicts), f"{blocked} of {len(items)} prompts would be blocked", timing]
            return lines, FAIL if blocked else PASS
        lines = _explained(screener, texts) if explain else _verdict_lines(texts, verdicts, unscreened)
        return [*lines, timing], _exit(verdicts, unscreened)
    if file is not None:
        texts = [line.strip() for line in read_text(file).splitlines() if line.strip()]
        if not texts:
            raise ConfigError(f"{file}: no prompts in the file (one prompt a line)")
    else:
        texts = list(prompts)
    if not texts:
        raise ConfigError("screen: give prompts, --file or --suite")
    verdicts = [screener.screen(text) for text in texts]
    lines = _explained(screener, texts) if explain else _verdict_lines(texts, verdicts, unscreened)
    return lines, _exit(verdicts, unscreened)


def _exit(verdicts: Sequence[Verdict], unscreened: str) -> int:
    """1 if a prompt is blocked, by a rule or (policy ``block``) because the screen cannot read it."""
    blocked = any(v.blocked or (v.unscreened and unscreened == "block") for v in verdicts)
    return FAIL if blocked else PASS


def _verdict_lines(texts: Sequence[str], verdicts: Sequence[Verdict], unscreened: str = "block") -> list[str]:
    """``verdict<TAB>categories [signals]<TAB>prompt`` per prompt; ``not screened`` where the screen cannot read it."""
    lines = []
    for text, v in zip(texts, verdicts, strict=True):
        signals = f" [{','.join(v.signals)}]" if v.signals else ""
        if v.blocked or not v.unscreened:
            verdict = "blocked" if v.blocked else "pass"
        else:
            verdict = "blocked" if unscreened == "block" else "not screened"
        category = v.unscreened if verdict == "not screened" else v.category
        lines.append(f"{verdict}\t{category or '-'}{signals}\t{text}")
    return lines


def _unscreened_counts(verdicts: Sequence[Verdict]) -> list[str]:
    """How many prompts the screen could not read, and why (none: no line)."""
    reasons = Counter(v.unscreened for v in verdicts if v.unscreened and not v.blocked)
    if not reasons:
        return []
    why = "; ".join(f"{reason}: {n}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    return [f"{sum(reasons.values())} of {len(verdicts)} prompts not screened ({why})"]


def _explained(screener: Screener, texts: Sequence[str]) -> list[str]:
    """Each prompt (the user's own, so it may be shown) followed by its explanation; a blank line between."""
    lines: list[str] = []
    for text in texts:
        if lines:
            lines.append("")
        lines += [f"prompt      {text}", *screener.explain(text).lines()]
    return lines


def _rule_counts(verdicts: Sequence[Verdict]) -> list[str]:
    """How many prompts each rule fired on, each allow rule spared a word in, each signal was seen in."""
    lines = []
    for title, counts in (
        ("rules that fired", Counter(r for v in verdicts for r in v.rules)),
        ("allow rules that spared a word", Counter(r for v in verdicts for r in v.spared)),
        ("disguise signals", Counter(s for v in verdicts for s in v.signals)),
    ):
        lines.append(f"{title} (prompts):")
        lines += [f"  {n:5d}  {name}" for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
        if not counts:
            lines.append("      0")
    return lines


def _timing(n: int, seconds: float, cpu_seconds: float) -> str:
    """The screening time, wall clock and CPU: building the screen and screening every prompt, not loading them."""
    return (
        f"screening time: {seconds:.2f} s for {n} prompts ({n / seconds:,.0f} prompts/s; "
        f"CPU {cpu_seconds:.2f} s, one core)"
    )
