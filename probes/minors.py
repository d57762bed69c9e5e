"""The ``minors`` screening rule: a person described as a minor, in a sexualised context, is always blocked.

The screen's other categories can be chosen per suite or run, recorded
instead of blocked (``mode: record``) or replaced by a team's own terms
file; this rule cannot. It reads, in a prompt's normalised words (disguises
undone as everywhere in the screen):

- a minor named by a word ("child", "teen", "schoolgirl", "a high school
  student"), by an age ("a ten-year-old", "aged 9", "12yo", "a girl of ten",
  "girl, 12", "6 months old", "under the age of 16"), by a school grade
  ("5th grader", "in grade 5") or a school year ("in year 6");
- words used of children and of adults ("girl", "boy", "son"): a minor unless
  the same phrase makes that person an adult ("a girl of 25", "college girls");
- sexualised clothing, poses and framing and sexual acts
  (``data/minors_terms.yaml``), and nudity and sexual acts (the built-in
  ``sexual`` category, whatever terms file the screener was given).

The same in every supported language (``data/languages/<code>.yaml``, its
``minors`` lists and its ages: number words, "12 años", "zwölf Jahre",
"12 лет", "十二歳", "열두 살", school grades), merged with the English lists
for the languages a prompt is read in, so a minor in one language and a
sexualised word in another count together.

A minor anywhere in the prompt and a sexualised word anywhere in it block the
prompt: the screen cannot tell whom the lingerie is on, and a sexualised scene
with a child in it is not a prompt to make. The decisions on ambiguous
wording are listed at the top of ``data/minors_terms.yaml``.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from probes.languages import supported_languages
from probes.normalisation import normalise, variants
from probes.terms import CategoryTerms, TermsFile, WordLists, load_terms, named_after

MINORS = "minors"
ADULT_AGE = 18
# The kind of sexualised word, and the rule it makes with a minor.
RULES = {
    "clothing": "minor + sexualised clothing",
    "pose": "minor + sexualised pose or framing",
    "act": "minor + nudity or sexual act",
    "sexual": "minor + nudity or sexual act",
}
_CONTEXT = ("sexual", "act", "clothing", "pose")

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_ORDINALS = "first second third fourth fifth sixth seventh eighth ninth tenth eleventh twelfth".split()
_NUMW = rf"(?:(?:{'|'.join(_TENS)})(?: (?:{'|'.join(_UNITS[1:10])}))?|{'|'.join(_UNITS)})"
_NUM = rf"(?:\d{{1,3}}|{_NUMW})"
_PERSON = (
    r"(?:(?:girl|boy|child|kid|son|daughter|model|person|woman|lady|guy|teen|teenager|student|pupil|dancer|gymnast"
    r"|cheerleader|baby|toddler|brother|sister|niece|nephew|youngster|athlete|actress|actor|singer|player|blonde"
    r"|brunette|redhead|character)s?|man|men|women|children|people)"
)
_NOT_PUPIL = r"(?! (?:teacher|teachers|teaching|classroom|curriculum|level|quality|steel|paper))"
# (how the age is given, pattern): each names the number "n" (or the ordinal "o"); "u" is a unit under a year.
_AGE_PATTERNS = [
    ("age", rf"(?<!\w)(?P<n>{_NUM}) ?(?:years?|yrs?) (?:old|of age|young)\b"),
    ("age", r"(?<!\w)(?P<n>\d{1,3}) ?(?:yo|y o|yrs? o|yrs?old|yearsold|yearold)\b"),
    ("age", rf"\b(?:aged|age|ages|at the age of|age of) (?P<n>{_NUM})\b"),
    ("age", rf"\b{_PERSON} (?:of|aged) (?P<n>{_NUM})\b(?! (?:years? ago|others?|more|them|us|the|these|those))"),
    ("age", rf"\b{_PERSON} \| (?P<n>\d{{1,2}})(?: (?:and|or|to) \d{{1,2}})?(?= \||$)"),
    ("under", rf"\bunder (?:the age of|age) (?P<n>{_NUM})\b"),
    ("under", rf"\b{_PERSON} under (?P<n>{_NUM})\b"),
    ("age", rf"(?<!\w)(?P<n>{_NUM}) ?(?P<u>months?|mos?|weeks?|wks?|days?) old\b"),
    ("grade", rf"(?<!\w)(?P<n>\d{{1,2}}) ?(?:st|nd|rd|th) grade(?:rs?)?\b{_NOT_PUPIL}"),
    ("grade", rf"\b(?P<o>{'|'.join(_ORDINALS)}) grade(?:rs?)?\b{_NOT_PUPIL}"),
    ("grade", rf"\b(?:in|a|an|the) grade (?P<n>\d{{1,2}}|{_NUMW})\b{_NOT_PUPIL}"),
    ("grade", rf"\bgrade (?P<n>\d{{1,2}}|{_NUMW}) (?:student|pupil|girl|boy|kid|child|class)"),
    ("school year", rf"\bin year (?P<n>\d{{1,2}}|{_NUMW})\b{_NOT_PUPIL}"),
    ("school year", rf"\byear (?P<n>\d{{1,2}}|{_NUMW}) (?:pupil|student|girl|boy|kid|child|class)"),
]


@dataclasses.dataclass(frozen=True)
class _AgeRule:
    how: str
    regex: re.Pattern[str]
    add: int | None = None  # a language's own rule: the years a grade or school year adds; None: English
    numbers: dict[str, int] | None = None  # its number words


_AGES = [_AgeRule(how, re.compile(pattern)) for how, pattern in _AGE_PATTERNS]
# Words without which no age, grade or school year can be read: the cheap test before the full reading.
_AGE_WORDS = frozenset("old yo aged age ages grade grader graders year under y months weeks days".split())
# Words of the minor phrases too common to be worth a full reading: each phrase has another word that triggers.
_COMMON = frozenset("high young one student students middle under form pre elementary grade legal".split())
_AGE_TOKEN = re.compile(r"\d+(?:yo|yrs?|yrsold|yearsold|yearold|st|nd|rd|th)")


@dataclasses.dataclass(frozen=True)
class AgePhrase:
    """A person's age as the prompt gives it: the words read, the age in years, and how it was given."""

    text: str
    years: float
    given_as: str  # "age" (in years), "months", "weeks", "days", "under", "grade", "school year"
    start: int  # token positions [start, end)
    end: int
    add: int = 5  # a grade's or school year's age minus its number

    @property
    def minor(self) -> bool:
        return self.years < ADULT_AGE

    def describe(self) -> str:
        if self.given_as == "grade":
            return f"grade {int(self.years) - self.add}, about age {int(self.years)}"
        if self.given_as == "school year":
            return f"school year {int(self.years) - self.add}, about age {int(self.years)}"
        if self.given_as == "under":
            return f"under {int(self.years) + 1}"
        if self.given_as in ("months", "weeks", "days"):
            per_year = {"months": 12, "weeks": 52, "days": 365}[self.given_as]
            return f"age {self.years * per_year:.0f} {self.given_as}"
        return f"age {self.years:g}"


@dataclasses.dataclass(frozen=True)
class MinorMention:
    """A person the prompt describes as a minor: the words read and how they say it."""

    text: str
    how: str  # "age 10", "grade 5, about age 10", "word", "a word used of children, with no adult age ..."
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class MinorsReading:
    """What the rule read in one prompt: minors, ambiguous words read as adults, sexualised words."""

    minors: tuple[MinorMention, ...] = ()
    adults: tuple[str, ...] = ()  # "'girl' read as an adult (age 25: 'girl of 25')"
    context: tuple[tuple[str, str], ...] = ()  # (kind, words): ("clothing", "lingerie")
    always: tuple[str, ...] = ()  # words that name sexualised minors on their own

    @property
    def rules(self) -> tuple[str, ...]:
        """The rules that fired, as the verdict lists them: "minors: rule 'minor + sexualised clothing'"."""
        out = [f"{MINORS}: term {word!r}" for word in self.always]
        if self.minors:
            out += [f"{MINORS}: rule {RULES[kind]!r}" for kind, _ in self.context]
        return tuple(dict.fromkeys(out))

    @property
    def matches(self) -> tuple[str, ...]:
        if not self.rules:
            return ()
        return tuple(dict.fromkeys([*self.always, *(m.text for m in self.minors), *(w for _, w in self.context)]))

    def lines(self) -> list[str]:
        """What was read, for ``screen --explain``: each minor (with the age phrase), adult and sexualised word."""
        out = [f"minor       {m.text!r} ({m.how})" for m in self.minors]
        out += [f"adult       {a}" for a in self.adults]
        what = {"act": "nudity or sexual act", "sexual": "nudity or sexual act", "pose": "pose or framing"}
        out += [f"sexualised  {words!r} ({what.get(kind, kind)})" for kind, words in self.context]
        return out


class MinorsRule:
    """The built-in minors rule; :meth:`read` takes a prompt's words as the screen reads them."""

    def __init__(self, languages: tuple[str, ...] = ()) -> None:
        def lists(names: tuple[str, ...]) -> WordLists:
            return WordLists.combined([_part(source, names) for source in ("", *languages)])

        # Two sets of lists, so that a prompt with no sexualised word is never read for minors (screen only);
        # the sexual words are the screen's own unless a team's terms file replaced them (built on first need).
        self._lists = lists
        self._sexual_lists: Any = None
        self._context = lists(("always", *_CONTEXT[1:]))
        self._people = lists(("minor", "ambiguous", "adult", "not_minor"))
        self._variants = variants
        self._triggers = frozenset().union(*(_triggers(source) for source in ("", *languages)))
        self._seen: dict[str, int] = {}
        self._ages = list(_AGES)
        age_words = set(_AGE_WORDS)
        for code in languages:
            rules, words = _age_rules(code)
            self._ages += rules
            age_words |= words
        self._age_words = frozenset(age_words)

    def read(
        self,
        tokens: list[str],
        canonical: list[str],
        breaks: set[int],
        *,
        allow: bool = True,
        everything: bool = False,
        sexual: list | None = None,
        spared: dict | None = None,
    ) -> MinorsReading:
        """The minors, adults and sexualised words in one reading of a prompt (empty when it names no minor).

        Without ``everything``, a prompt with no sexualised word is not read for minors: the rule cannot fire.
        ``sexual`` (the built-in sexual category's matches) and ``spared`` (the built-in allow rules' spared
        words) save finding them again when the screen has already found them.
        """
        # Cheap tests first: most prompts have no word that names a minor and no age under 18.
        seen = 0
        for token in tokens:
            seen |= self._trigger(token)
        if not seen:
            return _NOTHING
        if sexual is None or spared is None:
            spared = self._context.spare(tokens, canonical, breaks) if allow else {}
            found = self._with_sexual().find(tokens, canonical, spared)
        else:
            found = {**self._context.find(tokens, canonical, spared), ("sexual", "own"): sexual}
        if not everything and not any(found.values()):
            return _NOTHING
        ages = _ages(tokens, breaks, self._ages)
        if not seen & _WORD and not any(a.minor for a in ages):
            return _NOTHING
        found.update(self._people.find(tokens, canonical, spared))

        def hits(name: str) -> list[tuple[str, str, tuple[int, ...]]]:
            return found[(name, "own")]

        not_minor = {k for *_, at in hits("not_minor") for k in at}
        adult_at = {k: text for _, text, at in hits("adult") for k in at}
        minors = [MinorMention(a.text, a.describe(), a.start, a.end) for a in ages if a.minor]
        for _, text, at in hits("minor"):
            if not set(at) <= not_minor:
                minors.append(MinorMention(text, "word", at[0], at[-1] + 1))
        adults = []
        for _, text, at in hits("ambiguous"):
            i = at[0]
            if i in not_minor or any(m.start - 2 <= i < m.end + 2 for m in minors if m.how != "word"):
                continue  # part of a phrase that is no minor, or beside a minor's age already read
            why = f"in {adult_at[i]!r}" if i in adult_at else _adult_age(i, ages, breaks)
            if why:
                adults.append(f"{text!r} read as an adult ({why})")
            elif not any(m.start <= i < m.end for m in minors):
                minors.append(
                    MinorMention(text, "a word used of children, with no adult age or phrase beside it", i, i + 1)
                )
        # An age read first: the rule names the age phrase where there is one.
        minors.sort(key=lambda m: (m.how == "word", m.how.startswith("a word"), m.start))
        context = tuple(dict.fromkeys((kind, text) for kind in _CONTEXT for _, text, _ in hits(kind)))
        always = tuple(dict.fromkeys(text for _, text, _ in hits("always")))
        return MinorsReading(tuple(minors), tuple(adults), context, always)

    def _with_sexual(self) -> Any:
        if self._sexual_lists is None:
            self._sexual_lists = self._lists(("always", *_CONTEXT))
        return self._sexual_lists

    def _trigger(self, token: str) -> int:
        """_WORD if the token may be a word that names a minor, _AGE if it may be part of an age; 0 if neither."""
        try:
            return self._seen[token]
        except KeyError:
            hit = _WORD if token in self._triggers or not self._triggers.isdisjoint(self._variants(token)) else 0
            glued = token.rstrip("0123456789").lstrip("0123456789")  # "12anos", "12лет": a number with its unit
            if token in self._age_words or _AGE_TOKEN.fullmatch(token) or glued != token and glued in self._age_words:
                hit |= _AGE
            if len(self._seen) < 200_000:
                self._seen[token] = hit
            return hit


_NOTHING = MinorsReading()
_WORD, _AGE = 1, 2


def _terms_path() -> Path:
    return Path(str(resources.files("probes") / "data" / "minors_terms.yaml"))


@cache
def minors_rule(languages: tuple[str, ...] = ()) -> MinorsRule:
    """The rule with the lists of English and of ``languages`` (codes of supported languages), built once each."""
    return MinorsRule(languages)


@cache
def _own_terms() -> TermsFile:
    return load_terms(_terms_path())


@cache
def _categories(source: str) -> tuple[dict[str, CategoryTerms], TermsFile]:
    """The rule's lists of English (source "") or of one language, with the allow phrases and rules that go with it."""
    if not source:
        builtin = load_terms(None)
        return {**_own_terms().categories, "sexual": builtin.categories["sexual"]}, builtin
    t = supported_languages()[source]
    sexual = {"sexual": t.categories["sexual"]} if "sexual" in t.categories else {}
    return named_after(source, {**t.minors, **sexual}), TermsFile({}, t.allow, t.allow_rules)


@cache
def _part(source: str, names: tuple[str, ...]) -> WordLists:
    """The lists ``names`` of English (source "") or of one language, compiled once per process."""
    categories, allow = _categories(source)
    chosen = {name: categories.get(name, CategoryTerms()) for name in names}
    return WordLists(TermsFile(chosen, allow=allow.allow, allow_rules=allow.allow_rules))


@cache
def _triggers(source: str) -> frozenset[str]:
    """The words that may name a minor (English: less its common words), for the rule's cheap first test."""
    categories, _ = _categories(source)
    words = {
        w
        for name in ("always", "minor", "ambiguous")
        if name in categories
        for entry in (*categories[name].terms, *categories[name].phrases)
        for w in normalise(entry)
    }
    return frozenset((words - _COMMON) | {"school", "schools"}) if not source else frozenset(words)


@cache
def _age_rules(code: str) -> tuple[list[_AgeRule], frozenset[str]]:
    """A language's age, grade and school-year rules, compiled, and the words without which none can match."""
    t = supported_languages()[code]
    numbers = t.number_words()
    alternatives = "|".join(re.escape(w) for w in sorted(numbers, key=len, reverse=True))
    number = rf"(?P<n>\d{{1,3}}{'|' + alternatives if alternatives else ''})"
    rules = [
        _AgeRule(
            age.given_as, re.compile(r"(?<!\S)(?:" + age.pattern.replace("{n}", number) + r")(?!\S)"), age.add, numbers
        )
        for age in t.ages
    ]
    return rules, frozenset(w for entry in t.age_words for w in normalise(entry))


def _number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    words = text.split()
    if words[0] in _TENS:
        return _TENS[words[0]] + (_UNITS.index(words[1]) if len(words) > 1 else 0)
    return _UNITS.index(words[0]) if words[0] in _UNITS else None


def _ages(tokens: list[str], breaks: set[int], rules: list[_AgeRule] = _AGES) -> list[AgePhrase]:
    """Every age, grade and school year the words give, in years (grades and school years as ages)."""
    parts, starts, at = [], [], 0
    for i, token in enumerate(tokens):
        starts.append(at)
        parts.append(token)
        at += len(token) + 1
        if i in breaks:
            parts.append("|")
            at += 2
    text = " ".join(parts)
    out: list[AgePhrase] = []
    for rule in rules:
        how = rule.how
        for m in rule.regex.finditer(text):
            if m.groupdict().get("o"):
                n: float | None = _ORDINALS.index(m.group("o")) + 1
            elif rule.numbers is not None:
                value = m.group("n")
                n = int(value) if value.isdecimal() else rule.numbers.get(value)
            else:
                n = _number(m.group("n"))
            if n is None:
                continue
            unit = m.groupdict().get("u") or ""
            given = {"m": "months", "w": "weeks", "d": "days"}[unit[0]] if unit else how
            add = 5 if rule.add is None else rule.add
            if how in ("grade", "school year"):
                if not 1 <= n <= (12 if how == "grade" else 13):
                    continue
                years = n + float(add)
            elif how == "under":
                years = n - 1.0
            elif how == "months":
                years = n / 12
            elif unit:
                years = n / {"months": 12, "weeks": 52, "days": 365}[given]
            else:
                years = float(n)
            if years > 120:
                continue
            first = _token_at(starts, m.start())
            last = _token_at(starts, m.end() - 1)
            words = " ".join(t for t in text[m.start() : m.end()].split() if t != "|")
            out.append(AgePhrase(words, years, given, first, last + 1, add))
    return out


def _token_at(starts: list[int], offset: int) -> int:
    return max(0, bisect.bisect_right(starts, offset) - 1)


def _adult_age(i: int, ages: list[AgePhrase], breaks: set[int]) -> str | None:
    """Why word ``i`` (an ambiguous word) describes an adult: an adult age that contains it or stands beside it."""
    for a in ages:
        if a.minor:
            continue
        if a.start <= i < a.end:
            return f"{a.describe()}: {a.text!r}"
        before = a.end <= i and i - a.end <= 2 and not breaks.intersection(range(a.end - 1, i))
        after = a.start > i and a.start - i <= 3 and not breaks.intersection(range(i, a.start))
        if before or after:
            return f"{a.describe()}: {a.text!r}"
    return None
