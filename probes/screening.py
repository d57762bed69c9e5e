"""Input screening: flag prompts in disallowed categories before any image is made.

Every prompt is first undisguised, then matched:

1. It is read as :mod:`probes.normalisation` says: Unicode NFKC, invisible
   and format characters removed, look-alike letters mapped to Latin where
   they are planted among Latin letters (a word wholly in Cyrillic, Greek,
   Arabic, Devanagari, Han, kana or Hangul keeps its script), accents and
   case gone, scripts written without spaces split per character. A word that
   mixes scripts is recorded in the verdict as a signal.
2. Leetspeak ("p0rn", "s3x"), stretched letters ("nuuude"), letters spaced
   out ("n.u.d.e") and plurals are read as the words they spell.
3. Its language is told (:mod:`probes.languages`): English lists always
   apply, another language's where the prompt is in it and uses its words.
   A prompt in a language or script without lists is "not screened"
   (:attr:`Verdict.unscreened`), which :func:`screen_items` blocks or reports.
4. The words are matched, whole, against the word lists, phrases and named
   patterns of ``data/screening_terms.yaml`` and ``data/languages/*.yaml``
   (:mod:`probes.terms`). Whole-word matching keeps "Scunthorpe", "sexton" and
   "cocktail" from matching; the patterns catch paraphrases that name no
   listed word ("not wearing any clothes").
5. Allow phrases ("breast cancer") and sense-aware allow rules spare a
   flagged word that its neighbours give a harmless sense: a colour or
   material ("nude heels"), an animal or plant ("blue-footed booby"), a
   fixed idiom ("the naked eye").

The category ``minors_sexual`` needs a minor term *and* a sexual or
sexualising term, so "a doctor examining a child" passes; the minors rule
(:mod:`probes.minors`) reads minors and ages in every supported language.
:meth:`Screener.explain` says, for one prompt, what the screen read, in which
language, and which rule fired or which allow rule spared a word.

The screener never logs prompts: I2P's prompts are explicit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from audit.core.records import ProbeItem
from probes.languages import ENGLISH, LanguageReading, identify, supported_languages
from probes.minors import MINORS, MinorsReading
from probes.normalisation import INVISIBLE_IN_WORD, is_invisible, read_prompt
from probes.normalisation import canonical as canonical_word
from probes.normalisation import normalise as normalise  # re-exported: the screen's reading of a prompt
from probes.normalisation import words as split_words
from probes.terms import Spared, TermsFile, WordLists, load_terms, named_after

PASS, BLOCKED, FLAGGED, NOT_SCREENED = "pass", "blocked", "flagged", "not_screened"
NOT_SCREENED_CATEGORY = "not screened"
# What becomes of a prompt the screen cannot read: blocked, or generated and reported as not screened.
UNSCREENED_POLICIES = ("block", "report")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The screen's answer for one prompt: blocked or not, in which categories, on which words and rules."""

    blocked: bool
    categories: tuple[str, ...] = ()
    matches: tuple[str, ...] = ()  # the normalised terms that matched, never the prompt itself
    rules: tuple[str, ...] = ()  # the rules that fired, "category: term 'nude'"
    spared: tuple[str, ...] = ()  # the allow rules that spared a word
    signals: tuple[str, ...] = ()  # disguises seen: MIXED_SCRIPT, INVISIBLE_IN_WORD
    language: str | None = None  # the language the prompt was read in (ISO 639-1), None without letters
    unscreened: str | None = None  # why the screen could not read it: "language sw (Swahili)", "script GREEK"

    @property
    def category(self) -> str | None:
        if not self.categories and self.unscreened:
            return f"{NOT_SCREENED_CATEGORY}: {self.unscreened}"
        return ",".join(self.categories) or None

    @property
    def screened(self) -> bool:
        """Whether the screen could read the prompt: a prompt it could not read is never a plain pass."""
        return self.unscreened is None


_CLEAN = Verdict(blocked=False)


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why the screen decided as it did on one prompt, for ``diffaudit screen --explain``."""

    readings: tuple[str, ...]  # the normalised text; two when invisible characters may also separate words
    verdict: Verdict
    spared: tuple[Spared, ...]
    without_allow: Verdict  # the verdict had no allow rule applied
    mixed_words: tuple[tuple[str, tuple[str, ...]], ...]  # (word, its scripts) for words that mix scripts
    minors: tuple[str, ...] = ()  # what the minors rule read: minors with their age phrase, adults, sexualised words
    language: LanguageReading | None = None
    spaces_reading: bool = False  # whether the second reading takes invisible characters as spaces

    def lines(self) -> list[str]:
        """The explanation as aligned lines of text."""
        out = [f"normalised  {self.readings[0]}"]
        for i, r in enumerate(self.readings[1:], start=1):
            why = (
                "invisible characters read as spaces"
                if i == 1 and self.spaces_reading
                else "look-alike letters read as Latin"
            )
            out.append(f"            {r}  ({why})")
        signals = [f"mixed scripts in {w!r} ({', '.join(s)})" for w, s in self.mixed_words]
        if INVISIBLE_IN_WORD in self.verdict.signals:
            signals.append("invisible characters inside a word")
        out.append(f"signals     {'; '.join(signals) or '-'}")
        if self.verdict.blocked:
            out.append(f"verdict     blocked: {self.verdict.category or ''}")
        elif self.verdict.unscreened:
            out.append(f"verdict     {NOT_SCREENED_CATEGORY}: {self.verdict.unscreened}")
        else:
            out.append("verdict     pass")
        out += [f"fired       {rule}" for rule in self.verdict.rules] or ["fired       -"]
        out += list(self.minors)
        for s in self.spared:
            out.append(f"spared      {s.word!r} by allow rule {s.rule!r} ({s.sense}; {s.context!r})")
        if not self.spared:
            out.append("spared      -")
        elif self.without_allow.blocked and not self.verdict.blocked:
            out.append(f"            without it: blocked, {'; '.join(self.without_allow.rules)}")
        # The language last, and only where it is not plain English (English lists alone, screened).
        if self.language is not None and not self.language.plain_english:
            out.append(f"language    {self.language.describe()}")
        return out


class Screener:
    """Screens prompts against the enabled categories; ``screen(prompt)`` gives a :class:`Verdict`.

    English lists always apply; the lists of each supported language
    (:mod:`probes.languages`) apply where the prompt is in that language and
    uses its words. ``languages`` limits the supported languages (default:
    every one with a terms file); a prompt in any other is not screened.
    """

    def __init__(
        self,
        categories: Iterable[str] | None = None,
        terms: str | Path | None = None,
        languages: Iterable[str] | None = None,
    ) -> None:
        from probes.minors import minors_rule

        spec = load_terms(terms)
        known_languages = supported_languages()
        chosen = list(known_languages) if languages is None else list(languages)
        missing = [code for code in chosen if code not in known_languages]
        if missing:
            raise ValueError(f"no word lists for language {missing[0]!r}; known: {', '.join(known_languages)}")
        self._languages = {code: known_languages[code] for code in chosen}
        # A team's own terms file replaces the English lists; the other languages then add only to its categories.
        extra = [c for t in self._languages.values() for c in t.categories if terms is None or c in spec.categories]
        known = list(dict.fromkeys([*spec.categories, *extra]))
        wanted = known if categories is None else list(categories)
        # The minors rule is always on: naming it is allowed, leaving it out changes nothing.
        unknown = [c for c in wanted if c not in known and c != MINORS]
        if unknown:
            raise ValueError(f"unknown screening category {unknown[0]!r}; known: {', '.join([*known, MINORS])}")
        self.categories = [c for c in known if c in wanted]
        self._known = set(known)
        self._spec = spec
        self._builtin_terms = terms is None
        english = WordLists(spec, [c for c in spec.categories if c in wanted])
        # The lists for English and a set of other languages, built on first need.
        self._engines: dict[tuple[str, ...], tuple[WordLists, Any]] = {(): (english, minors_rule())}
        self._by_language: dict[str, WordLists] = {}

    def _engine(self, languages: Sequence[str]) -> tuple[WordLists, Any]:
        from probes.minors import minors_rule

        key = tuple(sorted(code for code in languages if code in self._languages))
        if key not in self._engines:
            parts = [self._engines[()][0], *(self._language_lists(code) for code in key)]
            lists = WordLists.combined(parts, [c for c in self.categories if any(c in p.categories for p in parts)])
            self._engines[key] = (lists, minors_rule(key))
        return self._engines[key]

    def _language_lists(self, code: str) -> WordLists:
        """One language's lists of the screen's categories (its patterns named after it), built once."""
        if code not in self._by_language:
            t = self._languages[code]
            own = {name: cat for name, cat in t.categories.items() if name in self._known}
            self._by_language[code] = WordLists(
                TermsFile(named_after(code, own), t.allow, t.allow_rules), [c for c in self.categories if c in own]
            )
        return self._by_language[code]

    def _language(self, prompt: str, tokens: list[str]) -> LanguageReading:
        reading = identify(prompt, tokens)
        if reading.language in (None, ENGLISH) and reading.lists == (ENGLISH,):
            return reading
        allowed = tuple(code for code in reading.lists if code == ENGLISH or code in self._languages)
        if (
            reading.unscreened is None
            and reading.language in supported_languages()
            and reading.language not in self._languages
        ):
            why = f"language {reading.language} (its lists not chosen)"
            return dataclasses.replace(reading, lists=allowed, unscreened=why)
        return dataclasses.replace(reading, lists=allowed)

    def screen(self, prompt: str) -> Verdict:
        """Whether ``prompt`` falls in an enabled category, on which words and rules, and the disguises seen.

        A prompt the screen cannot read (:attr:`Verdict.unscreened`) is not
        blocked by a rule, but is never a plain pass: :func:`screen_items`
        blocks or reports it.
        """
        readings, signals, _ = read_prompt(prompt)
        split = [split_words(r) for r in readings]
        language = self._language(prompt, split[0][0])
        verdict, _, _ = self._judge(split, signals, self._engine(language.lists[1:]))
        return dataclasses.replace(verdict, language=language.language, unscreened=language.unscreened)

    def explain(self, prompt: str) -> Explanation:
        """The normalised text, the language, the rules that fired, the allow rules that spared a word, disguises."""
        readings, signals, mixed = read_prompt(prompt)
        split = [split_words(r) for r in readings]
        language = self._language(prompt, split[0][0])
        engine = self._engine(language.lists[1:])
        verdict, spared, minors = self._judge(split, signals, engine, everything=True)
        verdict = dataclasses.replace(verdict, language=language.language, unscreened=language.unscreened)
        without, _, _ = self._judge(split, signals, engine, allow=False)
        shown = tuple(" ".join(tokens) for tokens, _ in split)
        read = tuple(dict.fromkeys(line for m in minors for line in m.lines()))
        spaces = any(is_invisible(c) for c in prompt)
        return Explanation(tuple(dict.fromkeys(shown)), verdict, spared, without, tuple(mixed), read, language, spaces)

    def _judge(
        self,
        split: Sequence[tuple[list[str], set[int]]],
        signals: tuple[str, ...],
        engine: tuple[WordLists, Any],
        allow: bool = True,
        everything: bool = False,
    ) -> tuple[Verdict, tuple[Spared, ...], list[MinorsReading]]:
        lists, minors_rule = engine
        hits: dict[str, list[tuple[str, str]]] = {}
        shown: dict[tuple[str, str], Spared] = {}
        minors: list[MinorsReading] = []
        for tokens, breaks in split:
            canonical = [canonical_word(t) for t in tokens]
            spared = lists.spare(tokens, canonical, breaks) if allow else {}
            found = lists.find(tokens, canonical, spared)
            for name, matched in lists.match(tokens, canonical, spared, found).items():
                hits.setdefault(name, []).extend((rule, text) for rule, text, _ in matched)
            # With the built-in terms, the minors rule reuses the sexual words just found (the screen's main cost).
            sexual = found[("sexual", "own")] if self._builtin_terms else None
            read = minors_rule.read(
                tokens, canonical, breaks, allow=allow, everything=everything, sexual=sexual, spared=spared
            )
            if read.minors or read.always or read.adults:
                minors.append(read)
            if spared:
                # Report only the allow rules that took away a word some rule would have matched.
                matched = {k for found in lists.find(tokens, canonical, {}).values() for *_, at in found for k in at}
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


def screen_items(
    items: Iterable[ProbeItem], mode: str = "block", screener: Screener | None = None, unscreened: str | None = None
) -> list[ProbeItem]:
    """The items with the screen's verdict recorded: ``blocked`` (mode block) or ``flagged`` (mode record).

    A prompt the screen cannot read (:attr:`Verdict.unscreened`) is never a
    plain pass: ``unscreened`` ``block`` records it as ``blocked``, ``report``
    as ``not_screened`` (generated); by default ``block`` in mode block and
    ``report`` in mode record. Its category says why: "not screened: language sw (Swahili)".
    """
    if mode not in ("block", "record"):
        raise ValueError(f"screening mode must be 'block' or 'record', got {mode!r}")
    unscreened = unscreened or ("block" if mode == "block" else "report")
    if unscreened not in UNSCREENED_POLICIES:
        raise ValueError(f"screening unscreened must be 'block' or 'report', got {unscreened!r}")
    screener = screener or Screener()
    out = []
    for item in items:
        verdict = screener.screen(item.prompt)
        # A minor in a sexualised context is blocked even where other categories are only recorded.
        blocks = mode == "block" or MINORS in verdict.categories
        if verdict.blocked:
            status = BLOCKED if blocks else FLAGGED
        elif verdict.unscreened:
            status = BLOCKED if unscreened == "block" else NOT_SCREENED
        else:
            status = PASS
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
