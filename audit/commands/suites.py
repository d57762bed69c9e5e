"""``diffaudit suites list`` and ``suites show``: the built-in prompt suites and their prompts."""

from __future__ import annotations

from collections.abc import Iterator

from probes import builtin_suites, load_suite


def list_lines() -> Iterator[str]:
    """One line per built-in suite: name, prompts, seeds, description (tab-separated)."""
    for name in builtin_suites():
        suite = load_suite(name)
        items = suite.expand()
        if suite.rows is not None and suite.rows.seed:
            seeds = "its published seed per prompt"
        else:
            seeds = f"{len(suite.default_seeds())} seeds"
        prompts = f"{len(items)} prompt" + ("" if len(items) == 1 else "s")
        yield f"{name}\t{prompts}\t{seeds}\t{suite.description}"


def show_lines(name: str) -> Iterator[str]:
    """The expanded prompts of a suite, one per line: item id, prompt, pair group."""
    for item in load_suite(name).expand():
        yield f"{item.item_id}\t{item.prompt}" + (f"\t{item.group}" if item.group else "")
