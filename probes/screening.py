"""Input screening: flag prompts in disallowed categories before any image is made.

Every prompt is normalised (case, accents, punctuation, leetspeak such as
"p0rn" or "s3x", stretched letters such as "nuuude", letters spaced out as
"n.u.d.e", plurals) and matched as whole words against the word lists,
phrases and patterns of ``data/screening_terms.yaml``. Whole-word matching
is what keeps "Scunthorpe", "sexton" and "cocktail" from matching, and the
``allow`` phrases keep medical and everyday uses ("breast cancer", "sex
education") from being flagged. The category ``minors_sexual`` needs a
minor term *and* a sexual or sexualising term, so "a doctor examining a
child" passes.

The screener never logs prompts: I2P's prompts are explicit.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from audit.core.records import ProbeItem
from audit.core.schema import load_yaml, parse

PASS, BLOCKED, FLAGGED = "pass", "blocked", "flagged"

# Symbols and digits read as letters inside a word; "1" is tried both as "i" and as "l".
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"})
_LEET_L = str.maketrans({"1": "l"})
_TOKEN = re.compile(r"[a-z0-9@$]+")
_LETTER = re.compile(r"[a-z]")
_STRETCH = re.compile(r"([a-z])\1{2,}")  # three or more of one letter: "nuuude" -> "nude"


@dataclasses.dataclass(frozen=True)
class CategoryTerms:
    """One screening category's word lists, as written in the terms file."""

    description: str = ""
    terms: list[str] = dataclasses.field(default_factory=list)
    phrases: list[str] = dataclasses.field(default_factory=list)
    patterns: list[str] = dataclasses.field(default_factory=list)
    always: list[str] = dataclasses.field(default_factory=list)
    context: list[str] = dataclasses.field(default_factory=list)
    requires: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        for pattern in self.patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns: {pattern!r} is not a regular expression ({exc})") from None


@dataclasses.dataclass(frozen=True)
class TermsFile:
    """The shape of ``screening_terms.yaml``."""

    categories: dict[str, CategoryTerms]
    allow: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        for name, category in self.categories.items():
            for required in category.requires:
                if required not in self.categories:
                    raise ValueError(f"categories.{name}.requires: unknown category {required!r}")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The screen's answer for one prompt: blocked or not, in which categories, on which words."""

    blocked: bool
    categories: tuple[str, ...] = ()
    matches: tuple[str, ...] = ()  # the normalised terms that matched, never the prompt itself

    @property
    def category(self) -> str | None:
        return ",".join(self.categories) or None


def normalise(text: str) -> list[str]:
    """The prompt as lower-case words: accents removed, spaced-out letters joined ("n u d e" -> "nude")."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold()
    text = text.replace("'", "").replace("\u2019", "")
    tokens = _TOKEN.findall(text)
    joined: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        # Three or more single letters in a row are one word spelled out; a leading
        # "a" or "i" is more likely the article or pronoun before it.
        if len(run) >= 4 and run[0] in ("a", "i"):
            joined.append(run.pop(0))
        joined.extend(["".join(run)] if len(run) >= 3 else run)
        run = []
        if token:
            joined.append(token)
    return joined


@lru_cache(maxsize=65536)
def _canonical(token: str) -> str:
    """One reading of a word: leetspeak decoded (only in words that mix letters and symbols), stretch undone."""
    if _is_mixed(token):
        token = token.translate(_LEET)
    return _STRETCH.sub(r"\1", token)


def _is_mixed(token: str) -> bool:
    return not token.isalpha() and _LETTER.search(token) is not None


@lru_cache(maxsize=65536)
def _variants(token: str) -> tuple[str, ...]:
    """Every reading of a word a term may match: as written, decoded, unstretched, singular."""
    readings = {token, _STRETCH.sub(r"\1", token)}
    if _is_mixed(token):
        for table in (_LEET, _LEET_L):
            decoded = token.translate(table).translate(_LEET)
            readings.update({decoded, _STRETCH.sub(r"\1", decoded)})
    out = set(readings)
    for word in readings:
        if word.endswith("ies") and len(word) > 4:
            out.add(word[:-3] + "y")
        if word.endswith("es") and len(word) > 3:
            out.add(word[:-2])
        if word.endswith("s") and len(word) > 2:
            out.add(word[:-1])
    return tuple(sorted(out))


class _Phrases:
    """Compiled phrases and patterns of one word list, matched over the normalised text."""

    def __init__(self, phrases: Iterable[str], patterns: Iterable[str] = ()) -> None:
        alternatives = [re.escape(p) for p in sorted(phrases, key=len, reverse=True)] + list(patterns)
        body = "|".join(f"(?:{a})" for a in alternatives)
        self.regex = re.compile(r"(?<!\S)(?:" + body + r")(?!\S)") if alternatives else None

    def find(self, texts: Sequence[str]) -> list[str]:
        if self.regex is None:
            return []
        return [m.group(0) for text in dict.fromkeys(texts) for m in self.regex.finditer(text)]


class Screener:
    """Screens prompts against the enabled categories; ``screen(prompt)`` gives a :class:`Verdict`."""

    # The word lists of a category: its own, those flagged on their own, and context words.
    _KINDS = ("own", "always", "context")

    def __init__(self, categories: Iterable[str] | None = None, terms: str | Path | None = None) -> None:
        spec = load_terms(terms)
        known = list(spec.categories)
        wanted = known if categories is None else list(categories)
        unknown = [c for c in wanted if c not in spec.categories]
        if unknown:
            raise ValueError(f"unknown screening category {unknown[0]!r}; known: {', '.join(known)}")
        self.categories = [c for c in known if c in wanted]
        self._allow: dict[str, list[tuple[str, ...]]] = {}
        for entry in spec.allow:
            phrase = tuple(_canonical(t) for t in normalise(entry))
            if phrase:
                self._allow.setdefault(phrase[0], []).append(phrase)
        self._requires = {name: cat.requires for name, cat in spec.categories.items()}
        # One index from a single word to the lists it is on; phrases and patterns per list.
        self._words: dict[str, list[tuple[str, str]]] = {}
        self._phrases: dict[tuple[str, str], _Phrases] = {}
        for name, cat in spec.categories.items():
            lists = {
                "own": ([*cat.terms, *cat.phrases], cat.patterns),
                "always": (cat.always, []),
                "context": (cat.context, []),
            }
            for kind, (entries, patterns) in lists.items():
                phrases = []
                for entry in entries:
                    words = normalise(entry)
                    if len(words) == 1:
                        self._words.setdefault(words[0], []).append((name, kind))
                    elif words:
                        phrases.append(" ".join(_canonical(w) for w in words))
                self._phrases[(name, kind)] = _Phrases(phrases, patterns)

    def screen(self, prompt: str) -> Verdict:
        """Whether ``prompt`` falls in an enabled category, and on which words."""
        tokens = normalise(prompt)
        canonical = [_canonical(t) for t in tokens]
        keep = self._not_allowed(canonical)
        # A removed (allowed) phrase leaves a gap, so its neighbours do not form a new phrase.
        texts = [
            " ".join(c if k else "~" for c, k in zip(canonical, keep, strict=True)),
            " ".join(t if k else "~" for t, k in zip(tokens, keep, strict=True)),
        ]
        found: dict[tuple[str, str], list[str]] = {key: phrases.find(texts) for key, phrases in self._phrases.items()}
        for token, k in zip(tokens, keep, strict=True):
            if not k:
                continue
            for word in _variants(token):
                lists = self._words.get(word)
                if lists:
                    for key in lists:
                        found[key].append(word)
                    break
        hits: dict[str, list[str]] = {}
        for name in self.categories:
            words = list(found[(name, "always")])
            own = found[(name, "own")]
            requires = self._requires[name]
            if own and requires:
                context = found[(name, "context")] + [w for other in requires for w in found[(other, "own")]]
                if context:
                    words += own + context
            elif not requires:
                words += own
            if words:
                hits[name] = words
        matches = tuple(dict.fromkeys(w for words in hits.values() for w in words))
        return Verdict(blocked=bool(hits), categories=tuple(hits), matches=matches)

    def _not_allowed(self, canonical: list[str]) -> list[bool]:
        keep = [True] * len(canonical)
        for i, word in enumerate(canonical):
            for phrase in self._allow.get(word, ()):
                if tuple(canonical[i : i + len(phrase)]) == phrase:
                    keep[i : i + len(phrase)] = [False] * len(phrase)
        return keep


@cache
def _default_terms() -> TermsFile:
    path = resources.files("probes") / "data" / "screening_terms.yaml"
    return parse(TermsFile, load_yaml(Path(str(path))), source=str(path))


def load_terms(path: str | Path | None = None) -> TermsFile:
    """The built-in word lists, or a team's own terms file in the same format."""
    if path is None:
        return _default_terms()
    return parse(TermsFile, load_yaml(path), source=str(path))


def screen_items(items: Iterable[ProbeItem], mode: str = "block", screener: Screener | None = None) -> list[ProbeItem]:
    """The items with the screen's verdict recorded: ``blocked`` (mode block) or ``flagged`` (mode record)."""
    if mode not in ("block", "record"):
        raise ValueError(f"screening mode must be 'block' or 'record', got {mode!r}")
    screener = screener or Screener()
    out = []
    for item in items:
        verdict = screener.screen(item.prompt)
        status = PASS if not verdict.blocked else (BLOCKED if mode == "block" else FLAGGED)
        out.append(dataclasses.replace(item, screening=status, screening_category=verdict.category))
    return out


def catch_rates(items: Iterable[ProbeItem], screener: Screener, by: str = "categories") -> Any:
    """Per value of attribute ``by`` (a list attribute counts once per element): prompts, caught, rate.

    For I2P, ``by="categories"`` gives the screen's catch rate per I2P category.
    """
    import pandas as pd

    rows = []
    for item in items:
        verdict = screener.screen(item.prompt)
        value = item.attributes.get(by)
        for label in value if isinstance(value, list) else [value]:
            rows.append(
                {
                    by: label,
                    "caught": verdict.blocked,
                    **{f"caught_{c}": c in verdict.categories for c in screener.categories},
                }
            )
    df = pd.DataFrame(rows)
    table = df.groupby(by, sort=True).agg(prompts=("caught", "size"), caught=("caught", "sum"))
    for c in screener.categories:
        table[f"caught_{c}"] = df.groupby(by, sort=True)[f"caught_{c}"].sum()
    table["catch_rate"] = table["caught"] / table["prompts"]
    return table.reset_index()
