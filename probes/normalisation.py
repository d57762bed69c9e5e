"""How the input screen reads a prompt: every script kept, disguises undone, words split.

1. Unicode NFKC (fullwidth and mathematical letters become plain ones);
   invisible and format characters (category Cf — zero-width space and
   joiner, soft hyphen, bidi controls, tags — and variation selectors) are
   removed; accents of the Latin, Greek and Cyrillic alphabets and Arabic
   vowel marks go (Devanagari's vowel signs and viramas stay: they are letters
   of the word), and case.
2. Look-alike letters (Cyrillic "а", Greek "ο") are mapped to their Latin
   skeleton with Unicode's confusables data (UTS #39, from the
   ``confusable-homoglyphs`` package) only where they are planted: in a word
   that mixes Latin with another alphabet ("nаked" with a Cyrillic "а"), or in
   a Latin text where a whole word of look-alikes stands alone ("ѕех scene":
   that word is read both ways). A word written wholly in Cyrillic, Greek,
   Arabic, Devanagari, Han, kana or Hangul stays in its script: "голая
   девочка" is read as Russian, not as Latin noise.
3. Scripts written without spaces between words (Han, kana, Hangul, Thai,
   Lao, Khmer, Myanmar) are split into one token per character, so that a
   listed word ("裸体", listed as the same characters) matches inside a run of
   text ("十岁女孩裸体色情"). Hangul is split the same way, so that a word
   matches with its particle attached ("소녀가").
4. Leetspeak ("p0rn", "s3x"), stretched letters ("nuuude"), letters spaced
   out ("n.u.d.e", "г о л а я") and plurals are read as the words they spell.

Terms files are read with the same functions, so a listed word and a word of
a prompt meet in the same form whatever the script.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

# The signals a verdict records: disguises seen in the prompt, whether or not a rule fired.
MIXED_SCRIPT, INVISIBLE_IN_WORD = "mixed_script", "invisible_in_word"

# Symbols and digits read as letters inside a word; "1" is tried both as "i" and as "l".
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"})
_LEET_L = str.maketrans({"1": "l"})
# Words, and the punctuation that ends a phrase (an allow rule's context must lie in the same phrase).
_TOKEN = re.compile(r"[a-z0-9@$]+|[,;:.!?|()\[\]{}<>/\n]")
_BREAK = ",;:.!?|()[]{}<>/\n"
_BREAKS = frozenset(_BREAK) | frozenset("、。，；：！？「」『』（）【】《》〈〉·・…।॥؟،؛")
_LETTER = re.compile(r"[a-z]")
_STRETCH = re.compile(r"([a-z])\1{2,}")  # three or more of one letter: "nuuude" -> "nude"
_WORD = re.compile(r"\w+")
_CHUNK = re.compile(r"[^\s,;:.!?|()\[\]{}<>/、。，；：！？「」『』（）【】《》]+")

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
# Scripts written without spaces between words: one token per character (Hangul too, for its particles).
_SEGMENTED_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1100, 0x11FF),  # Hangul jamo
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # hiragana, katakana
    (0x3100, 0x318F),  # bopomofo, Hangul compatibility jamo
    (0x31F0, 0x31FF),  # katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xA960, 0xA97F),  # Hangul jamo extended A
    (0xAC00, 0xD7FF),  # Hangul syllables, jamo extended B
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3134F),  # CJK extensions B-G
)
# Accents that are dropped: Latin, Greek and Cyrillic diacritics, Arabic vowel marks. Other marks are letters.
_DROPPED_MARKS = (
    (0x0300, 0x036F),
    (0x0483, 0x0489),
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x06D6, 0x06ED),
    (0x1AB0, 0x1AFF),
    (0x1DC0, 0x1DFF),
    (0x20D0, 0x20FF),
    (0xFE20, 0xFE2F),
)
# Scripts written together within one word (Japanese, Chinese, Korean): one family for the mixed-script signal.
_CJK = {"HAN", "HIRAGANA", "KATAKANA", "BOPOMOFO", "HANGUL"}
_NO_SCRIPT = {"COMMON", "INHERITED", "Unknown"}
# Alphabets whose letters are planted in Latin words as look-alikes; only these are folded to Latin.
_LOOKALIKE_SCRIPTS = {"CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "COPTIC", "LISU", "LATIN"} | _NO_SCRIPT


@lru_cache(maxsize=4096)
def is_invisible(char: str) -> bool:
    """Whether ``char`` is an invisible or format character (zero-width space, soft hyphen, variation selector)."""
    if unicodedata.category(char) == "Cf":
        return True
    point = ord(char)
    return any(low <= point <= high for low, high in _IGNORABLE_RANGES)


@lru_cache(maxsize=8192)
def is_segmented(char: str) -> bool:
    """Whether ``char`` belongs to a script written without spaces (Han, kana, Hangul, Thai...): one token each."""
    point = ord(char)
    return any(low <= point <= high for low, high in _SEGMENTED_RANGES)


@lru_cache(maxsize=8192)
def _dropped_mark(char: str) -> bool:
    point = ord(char)
    return any(low <= point <= high for low, high in _DROPPED_MARKS)


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
        return "".join(c for c in decomposed if not unicodedata.combining(c) and not is_invisible(c))

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


@lru_cache(maxsize=8192)
def script_of(char: str) -> str:
    """The Unicode script of a character (Han, kana and Hangul as one family, "CJK")."""
    from confusable_homoglyphs.categories import alias

    script = alias(char)
    return "CJK" if script in _CJK else script


def _scripts(word: str) -> set[str]:
    return {script_of(c) for c in word if c.isalpha()} - _NO_SCRIPT


def _mixed_script_words(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The words of ``text`` whose letters come from more than one script, with those scripts."""
    out = []
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word.isascii():
            continue
        scripts = _scripts(word)
        if len(scripts) > 1:
            out.append((word, tuple(sorted(scripts))))
    return out


def _invisible_inside_word(text: str) -> bool:
    visible = [(i, c) for i, c in enumerate(text) if not is_invisible(c)]
    for (i, left), (j, right) in zip(visible, visible[1:], strict=False):
        if j > i + 1 and left.isalnum() and right.isalnum():
            return True
    return False


def _fold(chunk: str) -> str:
    """Look-alike letters of the alphabets mapped to Latin; letters of other scripts kept."""
    table = _confusables()
    return "".join(c.translate(table) if script_of(c) in _LOOKALIKE_SCRIPTS else c for c in chunk)


def _skeleton(text: str) -> tuple[str, ...]:
    """Accents dropped, look-alikes planted among Latin letters mapped to Latin, case folded.

    One reading, or two when a word wholly of look-alike letters stands in a
    Latin text ("ѕех scene"): the second reads that word as Latin too.
    """
    text = unicodedata.normalize("NFKD", text)
    text = unicodedata.normalize(
        "NFC", "".join(c for c in text if not _dropped_mark(c) and c != "\u0640")
    )  # and tatweel
    table = _confusables()
    parts: list[str] = []
    islands: list[tuple[int, str]] = []
    latin_chunks, other_chunks = 0, {}
    at = 0
    for m in _CHUNK.finditer(text):
        parts.append(text[at : m.start()])
        chunk = m.group(0)
        at = m.end()
        if chunk.isascii():
            parts.append(chunk)
            latin_chunks += any(c.isalpha() for c in chunk)
            continue
        scripts = _scripts(chunk)
        if "LATIN" in scripts or not scripts:
            latin_chunks += bool(scripts)
            parts.append(_fold(chunk))  # Latin letters (ı, ł) and any look-alike planted among them
            continue
        for script in scripts:
            other_chunks[script] = other_chunks.get(script, 0) + 1
        letters = [c for c in chunk if c.isalpha()]
        if len(scripts) == 1 and scripts <= _LOOKALIKE_SCRIPTS and all(ord(c) in table for c in letters):
            islands.append((len(parts), chunk))
        parts.append(chunk)
    parts.append(text[at:])
    main = "".join(parts).casefold()
    if not islands or not latin_chunks:
        return (main,)
    for i, chunk in islands:
        if other_chunks[next(iter(_scripts(chunk)))] <= latin_chunks:
            parts[i] = _fold(chunk)
    folded = "".join(parts).casefold()
    return (main,) if folded == main else (main, folded)


def read_prompt(text: str) -> tuple[tuple[str, ...], tuple[str, ...], list[tuple[str, tuple[str, ...]]]]:
    """The prompt's readings as lower-case text, its disguise signals, and its mixed-script words.

    Invisible characters are removed (a word split by a zero-width space is
    one word); when there are any, a second reading takes them as spaces, so
    words run together by them are caught too.
    """
    if text.isascii():
        return (text.casefold(),), (), []
    signals = []
    texts = [text]
    if any(is_invisible(c) for c in text):
        if _invisible_inside_word(text):
            signals.append(INVISIBLE_IN_WORD)
        texts = [
            "".join(c for c in text if not is_invisible(c)),
            "".join(" " if is_invisible(c) else c for c in text),
        ]
    texts = [unicodedata.normalize("NFKC", t) for t in texts]
    mixed = _mixed_script_words(texts[0])
    if mixed:
        signals.append(MIXED_SCRIPT)
    skeletons = [_skeleton(t) for t in texts]
    # Each text's own reading first, then the readings with look-alike words as Latin.
    readings = tuple(dict.fromkeys([*(k[0] for k in skeletons), *(r for k in skeletons for r in k[1:])]))
    return readings, tuple(signals), mixed


def _tokens(reading: str) -> list[str]:
    """Words and phrase ends of a reading in any script; a character of a script without spaces is a word."""
    if reading.isascii():
        return _TOKEN.findall(reading)
    out: list[str] = []
    word: list[str] = []
    last_segmented = False
    for c in reading:
        if c in _BREAKS:
            if word:
                out.append("".join(word))
                word = []
            out.append("," if c not in _BREAK else c)
            last_segmented = False
        elif is_segmented(c) and not unicodedata.category(c).startswith("M"):
            if word:
                out.append("".join(word))
                word = []
            out.append(c)
            last_segmented = True
        elif unicodedata.category(c).startswith("M"):
            if last_segmented and not word:
                out[-1] += c  # a vowel sign or tone mark of the character before it
            elif word:
                word.append(c)
        elif c.isalnum() or c in "@$":
            word.append(c)
            last_segmented = False
        else:
            if word:
                out.append("".join(word))
                word = []
            last_segmented = False
    if word:
        out.append("".join(word))
    return out


def words(reading: str) -> tuple[list[str], set[int]]:
    """The words of a reading, spaced-out letters joined, and the indices of words that end a phrase."""
    reading = reading.replace("'", "").replace("\u2019", "")
    out: list[str] = []
    breaks: set[int] = set()
    run: list[str] = []

    def flush() -> None:
        # Three or more single letters in a row are one word spelled out; a leading
        # "a" or "i" is more likely the article or pronoun before it.
        if len(run) >= 4 and run[0] in ("a", "i"):
            out.append(run.pop(0))
        out.extend(["".join(run)] if len(run) >= 3 else run)
        run.clear()

    for token in _tokens(reading):
        if token in _BREAK:
            if not run:  # "n.u.d.e": the dots between single letters do not end a phrase
                if out:
                    breaks.add(len(out) - 1)
            continue
        if len(token) == 1 and token.isalpha() and not is_segmented(token):
            run.append(token)
            continue
        if run:
            flush()
        out.append(token)
    if run:
        flush()
    return out, breaks


def normalise(text: str) -> list[str]:
    """The prompt as the screen reads it: lower-case words in their own scripts, disguises undone."""
    return list(_normalised(text))


@lru_cache(maxsize=65536)
def _normalised(text: str) -> tuple[str, ...]:
    # Terms files are read several times over (lists, vocabularies, triggers): each entry is read once.
    return tuple(words(read_prompt(text)[0][0])[0])


def canonical(token: str) -> str:
    """One reading of a word: leetspeak decoded (only in words that mix letters and symbols), stretch undone."""
    if _is_mixed(token):
        token = token.translate(_LEET)
    return _STRETCH.sub(r"\1", token)


def _is_mixed(token: str) -> bool:
    return not token.isalpha() and _LETTER.search(token) is not None


@lru_cache(maxsize=65536)
def variants(token: str) -> tuple[str, ...]:
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
