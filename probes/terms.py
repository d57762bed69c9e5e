"""Terms files and the matching of their word lists, phrases, patterns and allow rules.

A terms file (``data/screening_terms.yaml``, ``data/minors_terms.yaml``, the
files of ``data/languages/``, a team's own) names categories of words;
:class:`WordLists` compiles one and finds, in a prompt's normalised words
(:mod:`probes.normalisation`), every term, phrase and pattern that matches
and every word an allow rule spares. The screen (:mod:`probes.screening`) and
the minors rule (:mod:`probes.minors`) are built on it.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import re
from collections.abc import Iterable, Sequence
from functools import cache
from importlib import resources
from pathlib import Path

from audit.core.schema import load_yaml, parse
from probes.normalisation import canonical as canonical_word
from probes.normalisation import normalise, variants


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
class Spared:
    """One word an allow rule spared: the rule, its sense, the word and the neighbours that gave it."""

    rule: str
    sense: str
    word: str
    context: str


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
            if canonical[i] not in self.triggers and self.triggers.isdisjoint(variants(token)):
                continue
            for phrase, name, sense in self.phrases.get(canonical[i], ()):
                end = i + len(phrase)
                if _at(phrase, tokens, canonical, i) and not breaks.intersection(range(i, end - 1)):
                    text = " ".join(canonical[i:end])
                    for k in range(i, end):
                        spared.setdefault(k, Spared(name, sense, canonical[k], text))
            rules = next((self.words[v] for v in (canonical[i], *variants(token)) if v in self.words), ())
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
    return tuple(canonical_word(w) for w in normalise(entry))


def _at(phrase: tuple[str, ...], tokens: list[str], canonical: list[str], start: int) -> bool:
    """Whether the words from ``start`` on read as ``phrase`` (plurals and disguises count)."""
    if start < 0 or start + len(phrase) > len(tokens):
        return False
    return all(w == canonical[start + k] or w in variants(tokens[start + k]) for k, w in enumerate(phrase))


def _is_one_of(words: frozenset[str], tokens: list[str], canonical: list[str], k: int) -> bool:
    return canonical[k] in words or not words.isdisjoint(variants(tokens[k]))


class WordLists:
    """A terms file's word lists, phrases, patterns and allow rules, compiled: which lists a prompt's words match."""

    def __init__(self, spec: TermsFile, categories: list[str] | None = None) -> None:
        self.categories = list(spec.categories) if categories is None else categories
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
                        phrases.append(" ".join(canonical_word(w) for w in words))
                self._phrases[(name, kind)] = _Phrases(phrases, patterns)
        self._searched = [(key, p) for key, p in self._phrases.items() if p.regex is not None]
        self._keys = list(self._phrases)
        self._allowed_parts = [self._allowed]
        self._terms_seen: dict[str, tuple[str, list[tuple[str, str]]] | None] = {}

    @classmethod
    def combined(cls, parts: Sequence[WordLists], categories: list[str] | None = None) -> WordLists:
        """The lists of several terms files matched as one (English and other languages): nothing is compiled again."""
        new = cls.__new__(cls)
        new._requires = {}
        new._words = {}
        new._keys = []
        new._searched = []
        new._allowed_parts = []
        for part in parts:
            for name, requires in part._requires.items():
                new._requires[name] = sorted({*new._requires.get(name, ()), *requires})
            for word, lists in part._words.items():
                new._words.setdefault(word, []).extend(k for k in lists if k not in new._words.get(word, ()))
            new._keys += [k for k in part._keys if k not in new._keys]
            new._searched += part._searched
            new._allowed_parts += part._allowed_parts
        new.categories = [c for p in parts for c in p.categories] if categories is None else categories
        new.categories = list(dict.fromkeys(new.categories))
        new._terms_seen = {}
        return new

    def spare(self, tokens: list[str], canonical: list[str], breaks: set[int]) -> dict[int, Spared]:
        """The positions of words the allow phrases and rules spare, each with the rule that spared it."""
        if len(self._allowed_parts) == 1:
            return self._allowed_parts[0].spare(tokens, canonical, breaks)
        spared: dict[int, Spared] = {}
        for allowed in self._allowed_parts:
            for k, why in allowed.spare(tokens, canonical, breaks).items():
                spared.setdefault(k, why)
        return spared

    def find(
        self, tokens: list[str], canonical: list[str], spared: dict[int, Spared]
    ) -> dict[tuple[str, str], list[tuple[str, str, tuple[int, ...]]]]:
        """Per word list: (rule, matched text, word positions) for every term, phrase and pattern that matches."""
        found: dict[tuple[str, str], list[tuple[str, str, tuple[int, ...]]]] = {key: [] for key in self._keys}
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
            hit = self.term(token)
            if hit is not None:
                word, lists = hit
                for key in lists:
                    found[key].append((f"term {word!r}", word, (i,)))
        return found

    def term(self, token: str) -> tuple[str, list[tuple[str, str]]] | None:
        """The listed word a token reads as, with the lists it is on; cached per screener."""
        try:
            return self._terms_seen[token]
        except KeyError:
            hit = next(((w, self._words[w]) for w in variants(token) if w in self._words), None)
            if len(self._terms_seen) < 200_000:
                self._terms_seen[token] = hit
            return hit

    def match(
        self, tokens: list[str], canonical: list[str], spared: dict[int, Spared], found: dict | None = None
    ) -> dict[str, list[tuple[str, str, tuple[int, ...]]]]:
        """Per enabled category that fires: (rule, matched text, positions) for every rule that fired."""
        found = self.find(tokens, canonical, spared) if found is None else found
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


def merge_terms(files: Iterable[TermsFile]) -> TermsFile:
    """One terms file with every file's lists: a category's terms, phrases and patterns from each file that has it."""
    categories: dict[str, CategoryTerms] = {}
    allow: list[str] = []
    rules: list[AllowRule] = []
    for spec in files:
        allow += spec.allow
        rules += [r for r in spec.allow_rules if r.name not in {x.name for x in rules}]
        for name, cat in spec.categories.items():
            if name not in categories:
                categories[name] = cat
                continue
            old = categories[name]
            categories[name] = dataclasses.replace(
                old,
                terms=[*old.terms, *cat.terms],
                phrases=[*old.phrases, *cat.phrases],
                patterns={**old.named_patterns, **cat.named_patterns},
                always=[*old.always, *cat.always],
                context=[*old.context, *cat.context],
                requires=sorted({*old.requires, *cat.requires}),
            )
    return TermsFile(categories, allow, rules)


def named_after(language: str, categories: dict[str, CategoryTerms]) -> dict[str, CategoryTerms]:
    """The categories with their named patterns named after the language too ("es: no_clothes"), so none collide."""
    return {
        name: dataclasses.replace(cat, patterns={f"{language}: {k}": v for k, v in cat.named_patterns.items()})
        for name, cat in categories.items()
    }
