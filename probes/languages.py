"""The languages the input screen has word lists for, and which language a prompt is written in.

Each supported language has one terms file, ``data/languages/<code>.yaml``
(ISO 639-1 code; ``ru-Latn`` and ``ja-Latn`` are Russian and Japanese written
in Latin letters), in the format of ``data/screening_terms.yaml`` plus a
``minors`` section (the minors rule's word lists in that language) and the
language's ages: its number words and the patterns of an age, a school grade
or a school year. English is ``data/screening_terms.yaml`` and
``data/minors_terms.yaml``.

A prompt's language is told by its scripts (Hangul is Korean, kana Japanese,
Cyrillic Russian, ...) and, for every prompt with letters, by py3langid (a
naive Bayes classifier over byte n-grams, 97 languages, its model inside the
package; chosen over langdetect, lingua and fastText's lid.176 in
``docs/screening-languages.md``). A language's lists apply to a prompt when
the prompt is plausibly in that language and uses a word of its lists, so a
Spanish prompt with English words is screened with both. A prompt the screen
cannot read — a language it has no lists for, a script it has no lists for, or
letters whose language cannot be told — is "not screened", never a pass.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from array import array
from collections.abc import Iterable
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from audit.core.schema import load_yaml, parse
from probes.normalisation import is_segmented, normalise, script_of
from probes.terms import AllowRule, CategoryTerms

ENGLISH = "en"
# Languages py3langid tells apart that the lists of a supported language read well enough
# (Nigerian Pidgin and Scots are English to the lists; Malay shares Indonesian's vocabulary).
_SAME_LISTS = {
    "fy": "nl",
    "pcm": "en",
    "sco": "en",
    "ms": "id",
    "gl": "es",
    "ext": "es",
    "ast": "es",
    "lb": "de",
    "wuu": "zh",
    "yue": "zh",
    "lzh": "zh",
    "gcf": "fr",
    "gcr": "fr",
    "vec": "it",
    "lij": "it",
}
# The scripts that tell a language by themselves.
_SCRIPT_LANGUAGES = {"CYRILLIC": ("ru",), "ARABIC": ("ar",), "DEVANAGARI": ("hi",)}
# Below this probability the languages the screen has lists for together, a prompt is not screened.
_MIN_SUPPORTED = 0.2
# An unsupported language (or none, "zxx") is named as the prompt's only with at least this probability.
_MIN_TOLD = 0.7
# ... or the top language at least 0.5 with the top three together at least 0.85 (close languages share it).
_MIN_TOLD_FAMILY = (0.5, 0.85)
# A supported language whose lists apply must have at least this probability (or be told by the script).
_MIN_PLAUSIBLE = 0.05
_NAMES = {
    "af": "Afrikaans",
    "bg": "Bulgarian",
    "bn": "Bengali",
    "ca": "Catalan",
    "cs": "Czech",
    "da": "Danish",
    "el": "Greek",
    "eo": "Esperanto",
    "et": "Estonian",
    "eu": "Basque",
    "fa": "Persian",
    "fi": "Finnish",
    "he": "Hebrew",
    "hr": "Croatian",
    "hu": "Hungarian",
    "hy": "Armenian",
    "ka": "Georgian",
    "la": "Latin",
    "lt": "Lithuanian",
    "lv": "Latvian",
    "mk": "Macedonian",
    "mr": "Marathi",
    "ne": "Nepali",
    "no": "Norwegian",
    "ro": "Romanian",
    "sk": "Slovak",
    "sl": "Slovenian",
    "sq": "Albanian",
    "sr": "Serbian",
    "sv": "Swedish",
    "sw": "Swahili",
    "ta": "Tamil",
    "th": "Thai",
    "tl": "Tagalog",
    "uk": "Ukrainian",
    "ur": "Urdu",
    "yo": "Yoruba",
    "zu": "Zulu",
    "so": "Somali",
    "qu": "Quechua",
    "ha": "Hausa",
    "xh": "Xhosa",
    "tk": "Turkmen",
    "bcl": "Bikol",
    "ace": "Acehnese",
    "st": "Sotho",
    "sn": "Shona",
    "mg": "Malagasy",
    "jv": "Javanese",
    "vi": "Vietnamese",
    "uz": "Uzbek",
    "kk": "Kazakh",
    "be": "Belarusian",
    "bs": "Bosnian",
    "is": "Icelandic",
    "ga": "Irish",
    "cy": "Welsh",
}
NOT_TOLD = "language cannot be told"
_NO_SCRIPT = ("COMMON", "INHERITED", "Unknown")


@dataclasses.dataclass(frozen=True)
class AgePattern:
    """How a language gives an age: a regular expression over the normalised words.

    ``{n}`` stands for the number (digits or one of the language's number
    words). ``given_as`` is ``age`` (in years), ``months``, ``under``,
    ``grade`` or ``school year``; ``add`` turns a grade or school year into an
    age (the age of a pupil in it, about).
    """

    pattern: str
    given_as: str = "age"
    add: int = 0

    def __post_init__(self) -> None:
        if "{n}" not in self.pattern:
            raise ValueError(f"ages: pattern {self.pattern!r} has no {{n}}")
        if self.given_as not in ("age", "months", "under", "grade", "school year"):
            raise ValueError(f"ages: given_as {self.given_as!r} is not age, months, under, grade or school year")


@dataclasses.dataclass(frozen=True)
class LanguageTerms:
    """The shape of one language's terms file, ``data/languages/<code>.yaml``."""

    language: str
    name: str
    sources: list[str]
    categories: dict[str, CategoryTerms]
    minors: dict[str, CategoryTerms]
    allow: list[str] = dataclasses.field(default_factory=list)
    allow_rules: list[AllowRule] = dataclasses.field(default_factory=list)
    numbers: dict[str, int] = dataclasses.field(default_factory=dict)
    numerals: str | None = None  # "cjk" or "sino-korean": the numbers 1-99 in those numerals, built in
    age_words: list[str] = dataclasses.field(default_factory=list)  # the words without which no age is read
    ages: list[AgePattern] = dataclasses.field(default_factory=list)
    latin_script: bool = False  # written in Latin letters: its lists apply only where its words appear
    # Its words that are also everyday English words ("kind", "string"): they alone never bring in its lists.
    english_homographs: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        known = {"always", "minor", "ambiguous", "adult", "not_minor", "clothing", "pose", "act"}
        unknown = sorted(set(self.minors) - known)
        if unknown:
            raise ValueError(f"minors: unknown list {unknown[0]!r}; known: {', '.join(sorted(known))}")
        if not self.sources:
            raise ValueError("sources: name where the words come from")

    def number_words(self) -> dict[str, int]:
        """Every number word, normalised (as the screen reads it, words joined by spaces), with its value."""
        out = dict(_NUMERALS.get(self.numerals or "", {}))
        out.update(self.numbers)
        return {" ".join(normalise(w)): n for w, n in out.items() if normalise(w)}

    @functools.cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every word the lists and patterns name: a prompt with none of them cannot match this language's lists."""
        return _vocabulary(self)


def _cjk_numerals() -> dict[str, int]:
    digits = "一二三四五六七八九"
    out = {d: i + 1 for i, d in enumerate(digits)}
    out["两"] = out["兩"] = 2
    for n in range(10, 100):
        tens, units = divmod(n, 10)
        out[("" if tens == 1 else digits[tens - 1]) + "十" + (digits[units - 1] if units else "")] = n
    return out


def _sino_korean() -> dict[str, int]:
    digits = "일이삼사오육칠팔구"
    out = {d: i + 1 for i, d in enumerate(digits)}
    for n in range(10, 100):
        tens, units = divmod(n, 10)
        out[("" if tens == 1 else digits[tens - 1]) + "십" + (digits[units - 1] if units else "")] = n
    return out


_NUMERALS = {"cjk": _cjk_numerals(), "sino-korean": _sino_korean()}
_LITERAL = re.compile(r"[^\W\d_]+")


def _vocabulary(terms: LanguageTerms) -> frozenset[str]:
    # A transliteration's lists apply wherever its words appear: only its distinctive words count, not its numbers.
    entries: list[str] = [] if terms.latin_script else [*terms.age_words, *terms.number_words(), *terms.allow]
    patterns: list[str] = [] if terms.latin_script else [a.pattern.replace("{n}", "") for a in terms.ages]
    for lists in (terms.categories, terms.minors):
        for cat in lists.values():
            entries += [*cat.terms, *cat.phrases, *cat.always, *cat.context]
            patterns += list(cat.named_patterns.values())
    vocab = {w for e in entries for w in normalise(e)}
    for p in patterns:
        vocab.update(w for literal in _LITERAL.findall(p) for w in normalise(literal) if len(w) > 1 or is_segmented(w))
    return frozenset(vocab)


def _languages_dir() -> Path:
    return Path(str(resources.files("probes") / "data" / "languages"))


@cache
def supported_languages() -> dict[str, LanguageTerms]:
    """Every language with a terms file, by code (English, whose lists are the built-in ones, is not among them)."""
    out = {}
    for path in sorted(_languages_dir().glob("*.yaml")):
        terms = parse(LanguageTerms, load_yaml(path), source=str(path))
        if terms.language != path.stem:
            raise ValueError(f"{path}: language: {terms.language!r} differs from the file name {path.stem!r}")
        out[terms.language] = terms
    return out


def language_name(code: str) -> str:
    """The language's English name ("es" -> "Spanish"), or the code where the screen has no name for it."""
    if code == ENGLISH:
        return "English"
    known = supported_languages()
    return known[code].name if code in known else _NAMES.get(code, code)


@dataclasses.dataclass(frozen=True)
class LanguageReading:
    """The language a prompt is read in, the languages whose lists apply, or why it is not screened."""

    language: str | None  # ISO 639-1 code of the most likely language; None without letters or when not told
    probability: float  # py3langid's, 1.0 when the script or the absence of letters decides
    lists: tuple[str, ...]  # the languages whose word lists apply, English first
    unscreened: str | None = None  # "language sw (Swahili)", "script GREEK", NOT_TOLD

    @property
    def plain_english(self) -> bool:
        """Read with the English lists alone, screened, and no other language told with confidence: not worth a line."""
        told = self.language not in (None, ENGLISH) and self.probability >= 0.5
        return self.lists == (ENGLISH,) and self.unscreened is None and not told

    def describe(self) -> str:
        if self.language is None:
            head = "none (no letters)" if self.unscreened is None else "not told"
        elif self.probability < _MIN_PLAUSIBLE:  # py3langid's best guess, but a guess it gives no weight
            head = f"not told (at best {self.language}, {language_name(self.language)}, p={self.probability:.2f})"
        else:
            head = f"{self.language} ({language_name(self.language)}, p={self.probability:.2f})"
        return f"{head}; lists: {', '.join(self.lists)}"


@cache
def _identifier():  # noqa: ANN202 - py3langid's class
    """py3langid's classifier, loaded on first use, with probabilities that sum to one.

    The model ships LZMA-compressed (0.7 s to unpack); its arrays are kept
    unpacked in the cache directory (``$DIFFAUDIT_CACHE``, about 70 MB) and
    memory-mapped from there on later runs (under 0.1 s).
    """
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    model = _cached_model() or _unpack_model(MODEL_DIR / MODEL_FILE)
    ptc, pc, classes, nextmove, row, output = model
    return LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)


_MODEL_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")


def _model_cache() -> Path:
    from importlib.metadata import version

    from audit.core.cache import cache_dir

    return cache_dir() / f"py3langid-{version('py3langid')}"


def _as_array(values: Any) -> array:
    """A NumPy array of unsigned ints as the standard-library array py3langid's automaton walks."""
    import numpy as np

    values = np.ascontiguousarray(values)
    out = array({2: "H", 4: "I", 8: "L"}[values.dtype.itemsize])
    out.frombytes(memoryview(values).cast("B"))  # one copy, straight from the memory-mapped file
    return out


def _cached_model() -> tuple[Any, ...] | None:
    import numpy as np

    folder = _model_cache()
    try:
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _MODEL_ARRAYS}
        arrays["ptc"] = np.array(arrays["ptc"])  # in memory: each prompt gathers rows from all over it
    except (OSError, ValueError):
        return None
    return (
        arrays["ptc"],
        np.asarray(arrays["pc"]),
        [str(c) for c in arrays["classes"]],
        _as_array(arrays["nextmove"]),
        _as_array(arrays["nextmove_row"]),
        np.asarray(arrays["out_feat"]).tolist(),
    )


def _unpack_model(path: Path) -> tuple[Any, ...]:
    """The model as py3langid loads it, its arrays saved unpacked for the next run (where the cache is writable)."""
    import os

    import numpy as np
    from py3langid.modelio import load_model

    ptc, pc, classes, nextmove, row, output = load_model(path)
    folder = _model_cache()
    values = {
        "ptc": ptc,
        "pc": pc,
        "classes": np.array(classes),
        "nextmove": np.asarray(nextmove),
        "nextmove_row": np.asarray(row),
        "out_feat": np.asarray(output, dtype=np.int32),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, value in values.items():
            part = folder / f"{name}.{os.getpid()}.tmp.npy"
            np.save(part, value)
            os.replace(part, folder / f"{name}.npy")  # whole files only: a reader never sees half of one
    except OSError:
        pass  # a read-only cache: unpack again next time
    return np.asarray(ptc), np.asarray(pc), classes, nextmove, row, output


@lru_cache(maxsize=8192)
def _rank(text: str) -> tuple[tuple[str, float], ...]:
    return tuple((lang, float(p)) for lang, p in _identifier().rank(text)[:8])


# Words that mark a prompt as written in English and in no other language with lists (not "is", "was", "art").
_ENGLISH_CUES = frozenset(
    "the of and with his their its are were from this that these those which while wearing holding sitting standing"
    " looking highly detailed trending artstation photorealistic cinematic lighting octane unreal beautiful".split()
)


def _plainly_english(words: list[str]) -> bool:
    return not _ENGLISH_CUES.isdisjoint(words)


@cache
def _other_vocabulary() -> frozenset[str]:
    """The single words listed by the other languages' lists (not their phrases), less the English lists' words."""
    from probes.terms import load_terms

    def single(entries: Iterable[str]) -> set[str]:
        return {w for w in (normalise(e) for e in entries) if len(w) == 1 and len(w[0]) > 2 for w in w}

    english = load_terms(None)
    own = {
        w
        for cat in english.categories.values()
        for e in (*cat.terms, *cat.phrases, *cat.always, *cat.context)
        for w in normalise(e)
    }
    words: set[str] = set()
    for t in supported_languages().values():
        if not t.latin_script:
            words |= single(t.age_words) | single(t.number_words())
            for cat in (*t.categories.values(), *t.minors.values()):
                words |= single([*cat.terms, *cat.always])
    return frozenset(words - own)


@cache
def _english_vocabulary() -> frozenset[str]:
    """Every word of the English lists (screening and minors)."""
    from probes.terms import load_terms

    files = [load_terms(None), load_terms(Path(str(resources.files("probes") / "data" / "minors_terms.yaml")))]
    return frozenset(
        w
        for spec in files
        for cat in spec.categories.values()
        for e in (*cat.terms, *cat.phrases, *cat.always, *cat.context)
        for w in normalise(e)
    )


@cache
def _distinctive(code: str) -> frozenset[str]:
    """A language's words that are neither on the English lists nor English words it names (english_homographs)."""
    terms = supported_languages()[code]
    shared = {w for e in terms.english_homographs for w in normalise(e)}
    return terms.vocabulary - _english_vocabulary() - shared


@cache
def _translit_vocabulary() -> frozenset[str]:
    return frozenset().union(*(t.vocabulary for t in supported_languages().values() if t.latin_script))


def _same_lists(code: str) -> str:
    return _SAME_LISTS.get(code, code)


def identify(prompt: str, tokens: Iterable[str]) -> LanguageReading:
    """The language of ``prompt`` (``tokens``: its words as the screen reads them), and the lists that apply."""
    tokens = list(tokens)
    known = supported_languages()
    ascii_only = all(t.isascii() for t in tokens)
    if ascii_only:  # words of [a-z0-9@$]: a word that is not a number has a letter
        lettered = [t for t in tokens if not t.isdecimal()]
    else:
        lettered = [t for t in tokens if not t.isdecimal() and any(c.isalpha() for c in t)]
    if not lettered:
        return LanguageReading(None, 1.0, (ENGLISH,))
    scripts: dict[str, int] = {}
    by_script: set[str] = set()
    if ascii_only:
        scripts["LATIN"] = len(lettered)
    else:
        for token in lettered:
            c = next(c for c in token if c.isalpha())
            script = script_of(c)
            if script == "CJK":
                point = ord(c)
                if 0xAC00 <= point <= 0xD7FF or 0x1100 <= point <= 0x11FF or 0x3130 <= point <= 0x318F:
                    by_script.add("ko")
                elif 0x3040 <= point <= 0x30FF or 0x31F0 <= point <= 0x31FF:
                    by_script.add("ja")
                else:
                    by_script.update(("zh", "ja"))  # Japanese is written in Han characters too
            by_script.update(_SCRIPT_LANGUAGES.get(script, ()))
            scripts[script] = scripts.get(script, 0) + 1
    vocab = set(lettered)
    if scripts.keys() <= {"LATIN"} and _plainly_english(lettered) and vocab.isdisjoint(_other_vocabulary()):
        # English function words and no word of another language's lists: English, py3langid need not be asked.
        translit = (
            ()
            if vocab.isdisjoint(_translit_vocabulary())
            else tuple(lang for lang, t in known.items() if t.latin_script and not vocab.isdisjoint(t.vocabulary))
        )
        return LanguageReading(ENGLISH, 1.0, (ENGLISH, *translit))
    # py3langid reads the words as the screen does (spaced-out letters joined); a script without spaces as written.
    # The first 200 characters tell the language as well as the whole (and a long prompt costs no more).
    ranked = _rank((" ".join(tokens) if prompt.isascii() else prompt)[:200])
    plausible = {_same_lists(lang) for lang, p in ranked if p >= _MIN_PLAUSIBLE} | by_script
    readable = {*known, ENGLISH}
    supported = [(_same_lists(lang), p) for lang, p in ranked if _same_lists(lang) in readable]
    top, p_top = ranked[0]
    main, p_main = supported[0] if supported else (_same_lists(top), p_top)
    p_english = next((p for lang, p in supported if lang == ENGLISH), 0.0)
    lists = [ENGLISH]
    for lang, terms in known.items():
        if not (terms.latin_script or lang in plausible) or vocab.isdisjoint(terms.vocabulary):
            continue
        # A language that is only plausible must use a word of its own, not one English shares ("kind", "sexy").
        clearly = lang == main and p_main >= 2 * p_english  # the prompt's language, well ahead of English
        if clearly or lang in by_script or not vocab.isdisjoint(_distinctive(lang)):
            lists.append(lang)
    other = sorted(s for s in scripts if s not in ("LATIN", "CJK", *_SCRIPT_LANGUAGES, *_NO_SCRIPT))
    if other:
        return LanguageReading(main, p_main, tuple(lists), f"script {other[0]} (no word lists)")
    translit = [lang for lang in lists[1:] if known[lang].latin_script]
    if _same_lists(top) in readable or sum(p for _, p in supported) >= _MIN_SUPPORTED:
        return LanguageReading(main, p_main, tuple(lists))
    if translit:
        return LanguageReading(translit[0], 1.0, tuple(lists))
    code = _same_lists(top)
    # Confident: one language, or a family of close ones (Croatian, Bosnian, Serbian) that together hold it.
    family = sum(p for _, p in ranked[:3])
    if p_top < _MIN_TOLD and not (p_top >= _MIN_TOLD_FAMILY[0] and family >= _MIN_TOLD_FAMILY[1]):
        # py3langid names no language with confidence: the script's language, or the lists that apply (English
        # first). Short prompts of names and keywords ("a quiet lake", "joe biden sumo wrestling") are read so.
        first = sorted(by_script)[0] if by_script else main if main in readable else ENGLISH
        return LanguageReading(first, p_main if first == main else 0.0, tuple(lists))
    if top == "zxx":
        return LanguageReading(None, p_top, tuple(lists), NOT_TOLD)
    return LanguageReading(code, p_top, tuple(lists), f"language {code} ({language_name(code)})")
