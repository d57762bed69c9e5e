"""Input screening: flag prompts in disallowed categories before any image is made.

Every prompt is first undisguised, then matched:

1. Unicode NFKC (fullwidth and mathematical letters become plain ones);
   invisible and format characters (category Cf — zero-width space and
   joiner, soft hyphen, bidi controls, tags — and variation selectors) are
   removed; look-alike letters from other scripts (Cyrillic "а", Greek "ο")
   are mapped to their Latin skeleton with Unicode's confusables data
   (UTS #39, from the ``confusable-homoglyphs`` package); accents and case
   go. A word that mixes scripts is recorded in the verdict as a signal.
2. Leetspeak ("p0rn", "s3x"), stretched letters ("nuuude"), letters spaced
   out ("n.u.d.e") and plurals are read as the words they spell.
3. The words are matched, whole, against the word lists, phrases and named
   patterns of ``data/screening_terms.yaml``. Whole-word matching keeps
   "Scunthorpe", "sexton" and "cocktail" from matching; the patterns catch
   paraphrases that name no listed word ("not wearing any clothes").
4. Allow phrases ("breast cancer") and sense-aware allow rules spare a
   flagged word that its neighbours give a harmless sense: a colour or
   material ("nude heels"), an animal or plant ("blue-footed booby"), a
   fixed idiom ("the naked eye").

The category ``minors_sexual`` needs a minor term *and* a sexual or
sexualising term, so "a doctor examining a child" passes.
:meth:`Screener.explain` says, for one prompt, what the screen read and which
rule fired or which allow rule spared a word.

The screener never logs prompts: I2P's prompts are explicit.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from audit.core.records import ProbeItem
from audit.core.schema import load_yaml, parse
from probes.minors import MINORS, MinorsReading

PASS, BLOCKED, FLAGGED = "pass", "blocked", "flagged"
# The signals a verdict records: disguises seen in the prompt, whether or not a rule fired.
MIXED_SCRIPT, INVISIBLE_IN_WORD = "mixed_script", "invisible_in_word"

# Symbols and digits read as letters inside a word; "1" is tried both as "i" and as "l".
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"})
_LEET_L = str.maketrans({"1": "l"})
# Words, and the punctuation that ends a phrase (an allow rule's context must lie in the same phrase).
_TOKEN = re.compile(r"[a-z0-9@$]+|[,;:.!?|()\[\]{}<>/\n]")
_BREAK = ",;:.!?|()[]{}<>/\n"
_LETTER = re.compile(r"[a-z]")
_STRETCH = re.compile(r"([a-z])\1{2,}")  # three or more of one letter: "nuuude" -> "nude"
_WORD = re.compile(r"\w+")

# Default-ignorable code points outside category Cf (Unicode's DerivedCoreProperties): variation
# selectors, the combining grapheme joiner, Hangul fillers and Khmer inherent vowels — all invisible.
_IGNORABLE_RANGES = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xE0100, 0xE01EF),
)
# Scripts written together within one word (Japanese, Chinese, Korean): one family for the mixed-script signal.
_CJK = {"HAN", "HIRAGANA", "KATAKANA", "BOPOMOFO", "HANGUL"}
_NO_SCRIPT = {"COMMON", "INHERITED", "Unknown"}


@dataclasses.dataclass(frozen=True)
class CategoryTerms:
    """One screening category's word lists, as written in the terms file.

    ``patterns`` is a list of regular expressions, or a mapping from a
    pattern's name to its expression (a string, or a list of alternatives).
    """

    description: str = ""
    terms: list[str] = dataclasses.field(default_factory=list)
    phrases: list[str] = dataclasses.field(default_factory=list)
    patterns: list[str] | dict[str, str | list[str]] = dataclasses.field(default_factory=list)
    always: list[str] = dataclasses.field(default_factory=list)
    context: list[str] = dataclasses.field(default_factory=list)
    requires: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        for name, pattern in self.named_patterns.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns: {name!r} is not a regular expression ({exc})") from None

    @property
    def named_patterns(self) -> dict[str, str]:
        """Each pattern by its name (an unnamed pattern is named by its expression)."""
        if isinstance(self.patterns, list):
            return {p: p for p in self.patterns}
        return {
            name: "|".join(f"(?:{a})" for a in alts) if isinstance(alts, list) else alts
            for name, alts in self.patterns.items()
        }


@dataclasses.dataclass(frozen=True)
class AllowRule:
    """A harmless sense of flagged words, given by the words next to them (in the same phrase).

    A word of ``words`` is spared when it is directly followed by an entry of
    ``followed_by`` or directly preceded by one of ``preceded_by``; up to two
    words of ``through`` (modifiers such as colours) may stand between. The
    entries of ``phrases`` are spared whole. Plurals and disguises count as
    the word, as everywhere in the screen.
    """

    name: str
    sense: str
    words: list[str] = dataclasses.field(default_factory=list)
    followed_by: list[str] = dataclasses.field(default_factory=list)
    preceded_by: list[str] = dataclasses.field(default_factory=list)
    through: list[str] = dataclasses.field(default_factory=list)
    phrases: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.words and not (self.followed_by or self.preceded_by):
            raise ValueError(f"allow rule {self.name!r}: words need followed_by or preceded_by")
        if (self.followed_by or self.preceded_by) and not self.words:
            raise ValueError(f"allow rule {self.name!r}: followed_by and preceded_by need words")
        if not (self.words or self.phrases):
            raise ValueError(f"allow rule {self.name!r}: give words with their neighbours, or phrases")


@dataclasses.dataclass(frozen=True)
class TermsFile:
    """The shape of ``screening_terms.yaml``."""

    categories: dict[str, CategoryTerms]
    allow: list[str] = dataclasses.field(default_factory=list)
    allow_rules: list[AllowRule] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        for name, category in self.categories.items():
            for required in category.requires:
                if required not in self.categories:
                    raise ValueError(f"categories.{name}.requires: unknown category {required!r}")
        names = [rule.name for rule in self.allow_rules]
        doubled = sorted({n for n in names if names.count(n) > 1})
        if doubled:
            raise ValueError(f"allow_rules: name {doubled[0]!r} is used twice")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The screen's answer for one prompt: blocked or not, in which categories, on which words and rules."""

    blocked: bool
    categories: tuple[str, ...] = ()
    matches: tuple[str, ...] = ()  # the normalised terms that matched, never the prompt itself
    rules: tuple[str, ...] = ()  # the rules that fired, "category: term 'nude'"
    spared: tuple[str, ...] = ()  # the allow rules that spared a word
    signals: tuple[str, ...] = ()  # disguises seen: MIXED_SCRIPT, INVISIBLE_IN_WORD

    @property
    def category(self) -> str | None:
        return ",".join(self.categories) or None


_CLEAN = Verdict(blocked=False)


@dataclasses.dataclass(frozen=True)
class Spared:
    """One word an allow rule spared: the rule, its sense, the word and the neighbours that gave it."""

    rule: str
    sense: str
    word: str
    context: str


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why the screen decided as it did on one prompt, for ``diffaudit screen --explain``."""

    readings: tuple[str, ...]  # the normalised text; two when invisible characters may also separate words
    verdict: Verdict
    spared: tuple[Spared, ...]
    without_allow: Verdict  # the verdict had no allow rule applied
    mixed_words: tuple[tuple[str, tuple[str, ...]], ...]  # (word, its scripts) for words that mix scripts
    minors: tuple[str, ...] = ()  # what the minors rule read: minors with their age phrase, adults, sexualised words

    def lines(self) -> list[str]:
        """The explanation as aligned lines of text."""
        out = [f"normalised  {self.readings[0]}"]
        out += [f"            {r}  (invisible characters read as spaces)" for r in self.readings[1:]]
        signals = [f"mixed scripts in {w!r} ({', '.join(s)})" for w, s in self.mixed_words]
        if INVISIBLE_IN_WORD in self.verdict.signals:
            signals.append("invisible characters inside a word")
        out.append(f"signals     {'; '.join(signals) or '-'}")
        out.append(f"verdict     {'blocked: ' + (self.verdict.category or '') if self.verdict.blocked else 'pass'}")
        out += [f"fired       {rule}" for rule in self.verdict.rules] or ["fired       -"]
        out += list(self.minors)
        for s in self.spared:
            out.append(f"spared      {s.word!r} by allow rule {s.rule!r} ({s.sense}; {s.context!r})")
        if not self.spared:
            out.append("spared      -")
        elif self.without_allow.blocked and not self.verdict.blocked:
            out.append(f"            without it: blocked, {'; '.join(self.without_allow.rules)}")
        return out


# -- normalisation ------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _is_invisible(char: str) -> bool:
    if unicodedata.category(char) == "Cf":
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in _IGNORABLE_RANGES)


@cache
def _confusables() -> dict[int, str]:
    """Unicode's confusables as a translation table: each non-ASCII character with a Latin prototype.

    UTS #39 maps every look-alike to a prototype. Its prototypes for ASCII
    letters are not all themselves: "m" reads "rn", and "I", "1" and "l"
    share "l". So a single character with the prototype "rn" reads as "m",
    and a capital or symbol with the prototype "l" reads as "1", which the
    screen reads both as "i" and as "l" (like leetspeak's "1").
    """
    from confusable_homoglyphs.confusables import confusables_data

    def plain(glyph: str) -> str:
        decomposed = unicodedata.normalize("NFKD", glyph)
        return "".join(c for c in decomposed if not unicodedata.combining(c) and not _is_invisible(c))

    table: dict[int, str] = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        latin = {g for g in (plain(entry["c"]) for entry in glyphs) if g and g.isascii() and g.isalnum()}
        if len(latin) != 1:
            continue
        (target,) = latin
        if target == "rn":
            target = "m"
        elif target == "l" and unicodedata.category(char) != "Ll":
            target = "1"
        table[ord(char)] = target
    return table


def _script(char: str) -> str:
    from confusable_homoglyphs.categories import alias

    script = alias(char)
    return "CJK" if script in _CJK else script


def _mixed_script_words(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The words of ``text`` whose letters come from more than one script, with those scripts."""
    out = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word.isascii():
            continue
        scripts = {_script(c) for c in word if c.isalpha()} - _NO_SCRIPT
        if len(scripts) > 1:
            out.append((word, tuple(sorted(scripts))))
    return out


def _invisible_inside_word(text: str) -> bool:
    visible = [(i, c) for i, c in enumerate(text) if not _is_invisible(c)]
    for (i, left), (j, right) in zip(visible, visible[1:], strict=False):
        if j > i + 1 and left.isalnum() and right.isalnum():
            return True
    return False


def _skeleton(text: str) -> str:
    """Accents dropped, look-alikes mapped to Latin, case folded."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.translate(_confusables()).casefold()


def _read(text: str) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[str, tuple[str, ...]]]]:
    """The prompt's readings as lower-case Latin text, its disguise signals, and its mixed-script words.

    Invisible characters are removed (a word split by a zero-width space is
    one word); when there are any, a second reading takes them as spaces, so
    words run together by them are caught too.
    """
    if text.isascii():
        return (text.casefold(),), (), []
    signals = []
    texts = [text]
    if any(_is_invisible(c) for c in text):
        if _invisible_inside_word(text):
            signals.append(INVISIBLE_IN_WORD)
        texts = [
            "".join(c for c in text if not _is_invisible(c)),
            "".join(" " if _is_invisible(c) else c for c in text),
        ]
    texts = [unicodedata.normalize("NFKC", t) for t in texts]
    mixed = _mixed_script_words(texts[0])
    if mixed:
        signals.append(MIXED_SCRIPT)
    readings = tuple(dict.fromkeys(_skeleton(t) for t in texts))
    return readings, tuple(signals), mixed


def _words(reading: str) -> tuple[list[str], set[int]]:
    """The words of a reading, spaced-out letters joined, and the indices of words that end a phrase."""
    reading = reading.replace("'", "").replace("\u2019", "")
    words: list[str] = []
    breaks: set[int] = set()
    run: list[str] = []

    def flush() -> None:
        # Three or more single letters in a row are one word spelled out; a leading
        # "a" or "i" is more likely the article or pronoun before it.
        if len(run) >= 4 and run[0] in ("a", "i"):
            words.append(run.pop(0))
        words.extend(["".join(run)] if len(run) >= 3 else run)
        run.clear()

    for token in _TOKEN.findall(reading):
        if token in _BREAK:
            if not run:  # "n.u.d.e": the dots between single letters do not end a phrase
                if words:
                    breaks.add(len(words) - 1)
            continue
        if len(token) == 1 and token.isalpha():
            run.append(token)
            continue
        if run:
            flush()
        words.append(token)
    if run:
        flush()
    return words, breaks


def normalise(text: str) -> list[str]:
    """The prompt as the screen reads it: lower-case Latin words, disguises undone ("n u d e" -> "nude")."""
    return _words(_read(text)[0][0])[0]


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


# -- matching -----------------------------------------------------------------------------------------


class _Phrases:
    """Compiled phrases and named patterns of one word list, matched over the normalised text."""

    def __init__(self, phrases: Iterable[str], patterns: dict[str, str] | None = None) -> None:
        self.names = list(patterns or {})
        alternatives = [re.escape(p) for p in sorted(phrases, key=len, reverse=True)]
        # Each pattern in a named group, so a match says which pattern it was.
        alternatives += [f"(?P<_p{i}>{p})" for i, p in enumerate((patterns or {}).values())]
        body = "|".join(f"(?:{a})" for a in alternatives)
        self.regex = re.compile(r"(?<!\S)(?:" + body + r")(?!\S)") if alternatives else None

    def find(self, text: str) -> list[tuple[str, str, tuple[int, int]]]:
        """(rule, matched text, span) for every match: rule is "phrase 'x'" or "pattern 'name'"."""
        if self.regex is None:
            return []
        out = []
        for m in self.regex.finditer(text):
            group = m.lastgroup
            rule = f"pattern {self.names[int(group[2:])]!r}" if group else f"phrase {m.group(0)!r}"
            out.append((rule, m.group(0), m.span()))
        return out


@dataclasses.dataclass(frozen=True)
class _Rule:
    name: str
    sense: str
    followed_by: tuple[tuple[str, ...], ...]
    preceded_by: tuple[tuple[str, ...], ...]
    through: frozenset[str]


class _Allowed:
    """The allow phrases and rules, indexed by the word each starts from or spares."""

    def __init__(self, plain: Iterable[str], rules: Iterable[AllowRule]) -> None:
        self.phrases: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        self.words: dict[str, list[_Rule]] = {}
        for entry in plain:
            self._add_phrase(entry, entry, "everyday or medical use")
        for rule in rules:
            for entry in rule.phrases:
                self._add_phrase(entry, rule.name, rule.sense)
            compiled = _Rule(
                rule.name,
                rule.sense,
                tuple(p for p in (_phrase(e) for e in rule.followed_by) if p),
                tuple(p for p in (_phrase(e) for e in rule.preceded_by) if p),
                frozenset(w for e in rule.through for w in _phrase(e)),
            )
            for word in rule.words:
                for w in _phrase(word):
                    self.words.setdefault(w, []).append(compiled)
        self.triggers = frozenset(self.phrases) | frozenset(self.words)  # the words any phrase or rule starts from

    def _add_phrase(self, entry: str, name: str, sense: str) -> None:
        phrase = _phrase(entry)
        if phrase:
            self.phrases.setdefault(phrase[0], []).append((phrase, name, sense))

    def spare(self, tokens: list[str], canonical: list[str], breaks: set[int]) -> dict[int, Spared]:
        """The positions of words the allow phrases and rules spare, each with the rule that spared it."""
        spared: dict[int, Spared] = {}
        for i, token in enumerate(tokens):
            if canonical[i] not in self.triggers and self.triggers.isdisjoint(_variants(token)):
                continue
            for phrase, name, sense in self.phrases.get(canonical[i], ()):
                end = i + len(phrase)
                if _at(phrase, tokens, canonical, i) and not breaks.intersection(range(i, end - 1)):
                    text = " ".join(canonical[i:end])
                    for k in range(i, end):
                        spared.setdefault(k, Spared(name, sense, canonical[k], text))
            rules = next((self.words[v] for v in (canonical[i], *_variants(token)) if v in self.words), ())
            for rule in rules:
                context = self._context(rule, tokens, canonical, breaks, i)
                if context is not None:
                    spared.setdefault(i, Spared(rule.name, rule.sense, canonical[i], context))
                    break
        return spared

    @staticmethod
    def _context(rule: _Rule, tokens: list[str], canonical: list[str], breaks: set[int], i: int) -> str | None:
        """The neighbours that give word ``i`` the rule's sense, or None."""
        j = i  # after: skip up to two modifier words, never across the end of a phrase
        for _ in range(3):
            if j in breaks:
                break
            for phrase in rule.followed_by:
                end = j + 1 + len(phrase)
                if _at(phrase, tokens, canonical, j + 1) and not breaks.intersection(range(j + 1, end - 1)):
                    return " ".join(canonical[i:end])
            if j + 1 < len(tokens) and _is_one_of(rule.through, tokens, canonical, j + 1):
                j += 1
            else:
                break
        j = i
        for _ in range(3):
            if j - 1 in breaks:
                break
            for phrase in rule.preceded_by:
                start = j - len(phrase)
                if _at(phrase, tokens, canonical, start) and not breaks.intersection(range(start, j - 1)):
                    return " ".join(canonical[start : i + 1])
            if j - 1 >= 0 and _is_one_of(rule.through, tokens, canonical, j - 1):
                j -= 1
            else:
                break
        return None


def _phrase(entry: str) -> tuple[str, ...]:
    return tuple(_canonical(w) for w in normalise(entry))


def _at(phrase: tuple[str, ...], tokens: list[str], canonical: list[str], start: int) -> bool:
    """Whether the words from ``start`` on read as ``phrase`` (plurals and disguises count)."""
    if start < 0 or start + len(phrase) > len(tokens):
        return False
    return all(w == canonical[start + k] or w in _variants(tokens[start + k]) for k, w in enumerate(phrase))


def _is_one_of(words: frozenset[str], tokens: list[str], canonical: list[str], k: int) -> bool:
    return canonical[k] in words or not words.isdisjoint(_variants(tokens[k]))


class Screener:
    """Screens prompts against the enabled categories; ``screen(prompt)`` gives a :class:`Verdict`."""

    def __init__(self, categories: Iterable[str] | None = None, terms: str | Path | None = None) -> None:
        from probes.minors import minors_rule

        spec = load_terms(terms)
        known = list(spec.categories)
        wanted = known if categories is None else list(categories)
        # The minors rule is always on: naming it is allowed, leaving it out changes nothing.
        unknown = [c for c in wanted if c not in spec.categories and c != MINORS]
        if unknown:
            raise ValueError(f"unknown screening category {unknown[0]!r}; known: {', '.join([*known, MINORS])}")
        self._build(spec, [c for c in known if c in wanted])
        self._minors = minors_rule()
        self._builtin_terms = terms is None

    @classmethod
    def word_lists(cls, spec: TermsFile) -> Screener:
        """The matching machinery over ``spec``'s lists alone (no minors rule): for rules built on the screen."""
        lists = cls.__new__(cls)
        lists._build(spec, list(spec.categories))
        return lists

    def _build(self, spec: TermsFile, categories: list[str]) -> None:
        self.categories = categories
        self._allowed = _Allowed(spec.allow, spec.allow_rules)
        self._requires = {name: cat.requires for name, cat in spec.categories.items()}
        # One index from a single word to the lists it is on; phrases and patterns per list.
        self._words: dict[str, list[tuple[str, str]]] = {}
        self._phrases: dict[tuple[str, str], _Phrases] = {}
        for name, cat in spec.categories.items():
            lists = {
                "own": ([*cat.terms, *cat.phrases], cat.named_patterns),
                "always": (cat.always, {}),
                "context": (cat.context, {}),
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
        self._searched = [(key, p) for key, p in self._phrases.items() if p.regex is not None]
        self._terms_seen: dict[str, tuple[str, list[tuple[str, str]]] | None] = {}

    def screen(self, prompt: str) -> Verdict:
        """Whether ``prompt`` falls in an enabled category, on which words and rules, and the disguises seen."""
        readings, signals, _ = _read(prompt)
        verdict, _, _ = self._judge(readings, signals)
        return verdict

    def explain(self, prompt: str) -> Explanation:
        """The normalised text, the rules that fired, the allow rules that spared a word, the disguises seen."""
        readings, signals, mixed = _read(prompt)
        verdict, spared, minors = self._judge(readings, signals, everything=True)
        without, _, _ = self._judge(readings, signals, allow=False)
        shown = tuple(" ".join(_words(r)[0]) for r in readings)
        read = tuple(dict.fromkeys(line for m in minors for line in m.lines()))
        return Explanation(tuple(dict.fromkeys(shown)), verdict, spared, without, tuple(mixed), read)

    def _judge(
        self, readings: Sequence[str], signals: tuple[str, ...], allow: bool = True, everything: bool = False
    ) -> tuple[Verdict, tuple[Spared, ...], list[MinorsReading]]:
        hits: dict[str, list[tuple[str, str]]] = {}
        shown: dict[tuple[str, str], Spared] = {}
        minors: list[MinorsReading] = []
        for reading in readings:
            tokens, breaks = _words(reading)
            canonical = [_canonical(t) for t in tokens]
            spared = self._allowed.spare(tokens, canonical, breaks) if allow else {}
            found = self._find(tokens, canonical, spared)
            for name, matched in self._match(tokens, canonical, spared, found).items():
                hits.setdefault(name, []).extend((rule, text) for rule, text, _ in matched)
            # With the built-in terms, the minors rule reuses the sexual words just found (the screen's main cost).
            sexual = found[("sexual", "own")] if self._builtin_terms else None
            read = self._minors.read(
                tokens, canonical, breaks, allow=allow, everything=everything, sexual=sexual, spared=spared
            )
            if read.minors or read.always or read.adults:
                minors.append(read)
            if spared:
                # Report only the allow rules that took away a word some rule would have matched.
                matched = {k for found in self._find(tokens, canonical, {}).values() for *_, at in found for k in at}
                for k in sorted(matched.intersection(spared)):
                    shown.setdefault((spared[k].rule, spared[k].word), spared[k])
        minor_rules = tuple(dict.fromkeys(rule for m in minors for rule in m.rules))
        if not hits and not shown and not signals and not minor_rules:
            return _CLEAN, (), minors
        fired = [n for n in self.categories if n in hits]
        categories = (*fired, MINORS) if minor_rules else tuple(fired)
        matched = [text for n in fired for _, text in hits[n]] + [w for m in minors for w in m.matches]
        verdict = Verdict(
            blocked=bool(categories),
            categories=categories,
            matches=tuple(dict.fromkeys(matched)),
            rules=tuple(dict.fromkeys(f"{n}: {rule}" for n in fired for rule, _ in hits[n])) + minor_rules,
            spared=tuple(dict.fromkeys(s.rule for s in shown.values())),
            signals=signals,
        )
        return verdict, tuple(shown.values()), minors

    def _find(
        self, tokens: list[str], canonical: list[str], spared: dict[int, Spared]
    ) -> dict[tuple[str, str], list[tuple[str, str, tuple[int, ...]]]]:
        """Per word list: (rule, matched text, word positions) for every term, phrase and pattern that matches."""
        found: dict[tuple[str, str], list[tuple[str, str, tuple[int, ...]]]] = {key: [] for key in self._phrases}
        # A spared word leaves a gap, so its neighbours do not form a new phrase.
        if spared:
            canonical = ["~" if i in spared else w for i, w in enumerate(canonical)]
            tokens = ["~" if i in spared else w for i, w in enumerate(tokens)]
        for words in (canonical, tokens) if canonical != tokens else (canonical,):
            text = " ".join(words)
            starts: list[int] = []
            for key, phrases in self._searched:
                for rule, matched, (a, b) in phrases.find(text):
                    starts = starts or list(itertools.accumulate((len(w) + 1 for w in words[:-1]), initial=0))
                    at = tuple(range(bisect.bisect_right(starts, a) - 1, bisect.bisect_left(starts, b)))
                    found[key].append((rule, matched, at))
        for i, token in enumerate(tokens):
            if i in spared:
                continue
            hit = self._term(token)
            if hit is not None:
                word, lists = hit
                for key in lists:
                    found[key].append((f"term {word!r}", word, (i,)))
        return found

    def _term(self, token: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The listed word a token reads as, with the lists it is on; cached per screener."""
        try:
            return self._terms_seen[token]
        except KeyError:
            hit = next(((w, self._words[w]) for w in _variants(token) if w in self._words), None)
            if len(self._terms_seen) < 200_000:
                self._terms_seen[token] = hit
            return hit

    def _match(
        self, tokens: list[str], canonical: list[str], spared: dict[int, Spared], found: dict | None = None
    ) -> dict[str, list[tuple[str, str, tuple[int, ...]]]]:
        """Per enabled category that fires: (rule, matched text, positions) for every rule that fired."""
        found = self._find(tokens, canonical, spared) if found is None else found
        hits: dict[str, list[tuple[str, str, tuple[int, ...]]]] = {}
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
        return hits


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
        # A minor in a sexualised context is blocked even where other categories are only recorded.
        blocks = mode == "block" or MINORS in verdict.categories
        status = PASS if not verdict.blocked else (BLOCKED if blocks else FLAGGED)
        out.append(dataclasses.replace(item, screening=status, screening_category=verdict.category))
    return out


def catch_rates(
    items: Sequence[ProbeItem], screener: Screener, by: str = "categories", verdicts: Sequence[Verdict] | None = None
) -> Any:
    """Per value of attribute ``by`` (a list attribute counts once per element): prompts, caught, rate.

    For I2P, ``by="categories"`` gives the screen's catch rate per I2P category.
    ``verdicts`` (one per item) saves screening the items again.
    """
    import pandas as pd

    if verdicts is None:
        verdicts = [screener.screen(item.prompt) for item in items]
    categories = [*screener.categories, MINORS]
    rows = []
    for item, verdict in zip(items, verdicts, strict=True):
        value = item.attributes.get(by)
        for label in value if isinstance(value, list) else [value]:
            rows.append(
                {
                    by: label,
                    "caught": verdict.blocked,
                    **{f"caught_{c}": c in verdict.categories for c in categories},
                }
            )
    df = pd.DataFrame(rows)
    table = df.groupby(by, sort=True).agg(prompts=("caught", "size"), caught=("caught", "sum"))
    for c in categories:
        table[f"caught_{c}"] = df.groupby(by, sort=True)[f"caught_{c}"].sum()
    table["catch_rate"] = table["caught"] / table["prompts"]
    return table.reset_index()
