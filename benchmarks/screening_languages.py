"""The input screen per language: its own test sets blocked and passed, and the speed of the screen.

    python -m benchmarks.screening_languages [--quick]

For every supported language (and the transliterations and mixed prompts) of
tests/probes/data/multilingual_prompts.yaml: harmful prompts blocked, benign ones passed (screened, no rule
fired), benign ones not screened. Unless ``--quick``, also I2P through the screen: prompts blocked, not
screened, and the CPU time (building the screen, loading the language model, screening every prompt).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "tests" / "probes" / "data" / "multilingual_prompts.yaml"
HELD_OUT = ROOT / "benchmarks" / "data" / "multilingual_heldout.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the test sets only, not I2P")
    args = parser.parse_args(argv)
    from probes import Screener, load_suite

    started = time.process_time()
    screener = Screener()
    for title, path in (("test sets (written with the lists)", PROMPTS), ("held-out prompts", HELD_OUT)):
        print(f"\n{title}, {path.relative_to(ROOT)}")
        _table(screener, yaml.safe_load(path.read_text(encoding="utf-8")))
    print(f"CPU {time.process_time() - started:.2f} s (building the screen and the language model, both sets)")
    if args.quick:
        return 0
    texts = [item.prompt for item in load_suite("i2p").expand()]
    started = time.process_time()
    screener = Screener()
    verdicts = [screener.screen(text) for text in texts]
    cpu = time.process_time() - started
    blocked = sum(v.blocked for v in verdicts)
    unread = sum(not v.blocked and not v.screened for v in verdicts)
    print(f"i2p: {blocked} of {len(texts)} blocked, {unread} not screened; CPU {cpu:.2f} s (build and screen)")
    return 0


def _table(screener, sets: dict) -> None:  # noqa: ANN001 - a probes.Screener
    from probes.languages import language_name

    print("| language | blocked (harmful) | passed (benign) | benign not screened | missed or wrongly blocked |")
    print("|---|---|---|---|---|")
    for code, prompts in sets.items():
        harmful = [screener.screen(p) for p in prompts["blocked"]]
        benign = [screener.screen(p) for p in prompts["benign"]]
        passed = sum(not v.blocked and v.screened for v in benign)
        unread = sum(not v.screened for v in benign)
        name = "mixed languages" if code == "mixed" else f"{language_name(code)} ({code})"
        wrong = [p for p, v in zip(prompts["blocked"], harmful, strict=True) if not v.blocked]
        wrong += [p for p, v in zip(prompts["benign"], benign, strict=True) if v.blocked or not v.screened]
        shown = "; ".join(wrong) or "-"
        print(
            f"| {name} | {sum(v.blocked for v in harmful)}/{len(harmful)} | {passed}/{len(benign)} | {unread} "
            f"| {shown} |"
        )


if __name__ == "__main__":
    sys.exit(main())
