"""The sandbox world's facts: its occupations, the attributes of a portrait, and the planted bias.

Every portrait has an occupation (shown by the clothing), a skin-tone group
(a Monk Skin Tone level drawn within it), an age cue (grey hair or not) and a
neutral binary marker (the colour of a badge on the clothing). How these are
distributed per occupation is the *planted bias*: ``planted_bias.csv`` beside
this file, some occupations balanced, some strongly skewed. It is the
sandbox's counterpart of the BLS shares: the ``sandbox`` suite carries the same
figures as each prompt's reference, so an audit can be judged against the
truth.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from collections.abc import Mapping
from importlib import resources
from typing import Any

# Each attribute of a portrait and its labels, in the order tables list them.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "skin_tone_group": ("light", "medium", "dark"),
    "age_cue": ("older", "younger"),
    "marker": ("amber", "violet"),
}
# The Monk Skin Tone levels of each skin-tone group; a portrait's level is drawn uniformly within its group.
# Levels 1-4 are close to one another (ΔE*76 < 10), 4|5 and 7|8 are far apart (about 11 and 14), so the
# group boundaries sit where a colorimetric reading is least likely to cross them.
MONK_LEVELS: dict[str, tuple[int, ...]] = {"light": (1, 2, 3, 4), "medium": (5, 6, 7), "dark": (8, 9, 10)}
# The CSV column prefix of each attribute.
_COLUMNS = {"skin_tone_group": "skin", "age_cue": "age", "marker": "marker"}

Shares = dict[str, dict[str, float]]  # attribute -> label -> share (sums to 1)


@functools.cache
def _read_table() -> tuple[tuple[str, Shares, str], ...]:
    text = (resources.files("generators.sandbox") / "planted_bias.csv").read_text(encoding="utf-8")
    rows = []
    for row in csv.DictReader(text.splitlines()):
        shares: Shares = {}
        for attribute, labels in ATTRIBUTES.items():
            weights = {label: float(row[f"{_COLUMNS[attribute]}_{label}"]) for label in labels}
            total = sum(weights.values())
            shares[attribute] = {label: w / total for label, w in weights.items()}
        rows.append((row["occupation"], shares, row["design"]))
    return tuple(rows)


def occupations() -> list[str]:
    """The sandbox's occupations, in the order of the planted table (the DDPM's class order)."""
    return [name for name, _, _ in _read_table()]


def planted_bias() -> dict[str, Shares]:
    """Per occupation, the planted share of each label of each attribute (each attribute sums to 1)."""
    return {name: {a: dict(s) for a, s in shares.items()} for name, shares, _ in _read_table()}


def planted_design() -> dict[str, str]:
    """Per occupation, what the planted table does to it in words ('balanced', 'skewed marker', ...)."""
    return {name: design for name, _, design in _read_table()}


def balanced_bias() -> dict[str, Shares]:
    """Every occupation balanced: each label of each attribute equally likely."""
    return {
        name: {a: {label: 1.0 / len(labels) for label in labels} for a, labels in ATTRIBUTES.items()}
        for name in occupations()
    }


def skewed_occupations(table: Mapping[str, Shares] | None = None, *, tolerance: float = 1e-6) -> dict[str, list[str]]:
    """The occupations of ``table`` (default: the planted one) with the attributes on which they depart from parity."""
    table = planted_bias() if table is None else table
    out: dict[str, list[str]] = {}
    for name, shares in table.items():
        skewed = [a for a, s in shares.items() if max(abs(v - 1.0 / len(s)) for v in s.values()) > tolerance]
        if skewed:
            out[name] = skewed
    return out


def check_table(table: Mapping[str, Mapping[str, Mapping[str, float]]], *, source: str = "bias table") -> Shares:
    """Validate a user-given table (occupation -> attribute -> label -> share); returns it normalised."""
    known = set(occupations())
    out: dict[str, Shares] = {}
    for name, shares in table.items():
        if name not in known:
            raise ValueError(f"{source}: {name!r} is not a sandbox occupation ({', '.join(occupations())})")
        out[name] = {}
        for attribute, labels in ATTRIBUTES.items():
            given = dict(shares.get(attribute) or {label: 1.0 for label in labels})
            strange = sorted(set(given) - set(labels))
            if strange:
                raise ValueError(
                    f"{source}: {name}.{attribute}: unknown label(s) {', '.join(strange)} ({', '.join(labels)})"
                )
            if any(float(v) < 0 for v in given.values()) or sum(float(v) for v in given.values()) <= 0:
                raise ValueError(f"{source}: {name}.{attribute}: shares must be non-negative with a positive sum")
            total = sum(float(v) for v in given.values())
            out[name][attribute] = {label: float(given.get(label, 0.0)) / total for label in labels}
        unknown = sorted(set(shares) - set(ATTRIBUTES))
        if unknown:
            raise ValueError(f"{source}: {name}: unknown attribute(s) {', '.join(unknown)} ({', '.join(ATTRIBUTES)})")
    return out


@dataclasses.dataclass(frozen=True)
class Portrait:
    """Everything that decides one rendered portrait: its true attributes and its nuisance variation."""

    occupation: str
    skin_tone_group: str
    monk_level: int
    age_cue: str
    marker: str
    # Nuisance: varies freely, carries no attribute.
    background: tuple[int, int, int]
    hair_colour: tuple[int, int, int]
    lighting: float  # multiplies the skin colour
    head_dx: float
    head_dy: float
    hair_volume: float

    def truth(self) -> dict[str, Any]:
        """The true attributes, as recorded with every rendered image."""
        return {
            "occupation": self.occupation,
            "skin_tone_group": self.skin_tone_group,
            "monk_level": self.monk_level,
            "age_cue": self.age_cue,
            "marker": self.marker,
        }


_YOUNGER_HAIR = ((28, 26, 26), (58, 40, 30), (96, 66, 42), (126, 58, 34), (74, 50, 36))


def draw_portrait(occupation: str, rng: Any, table: Mapping[str, Shares] | None = None) -> Portrait:
    """Draw one portrait of ``occupation`` from ``table`` (default: the planted bias) with a numpy Generator."""
    table = planted_bias() if table is None else table
    if occupation not in table:
        raise ValueError(f"{occupation!r} is not a sandbox occupation ({', '.join(table)})")
    shares = table[occupation]

    def pick(attribute: str) -> str:
        labels = ATTRIBUTES[attribute]
        return str(labels[rng.choice(len(labels), p=[shares[attribute][label] for label in labels])])

    group, age, marker = pick("skin_tone_group"), pick("age_cue"), pick("marker")
    level = int(rng.choice(MONK_LEVELS[group]))
    if age == "older":
        grey = int(rng.integers(165, 226))
        hair = (grey, grey, min(255, grey + int(rng.integers(-4, 5))))
    else:
        base = _YOUNGER_HAIR[int(rng.integers(len(_YOUNGER_HAIR)))]
        hair = tuple(int(min(255, max(0, c + rng.integers(-8, 9)))) for c in base)
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.12, 0.35), rng.uniform(0.45, 0.78)
    return Portrait(
        occupation=occupation,
        skin_tone_group=group,
        monk_level=level,
        age_cue=age,
        marker=marker,
        background=_hsv_to_rgb(hue, sat, val),
        hair_colour=hair,  # type: ignore[arg-type]
        lighting=float(rng.uniform(0.96, 1.04)),
        head_dx=float(rng.uniform(-1.0, 1.0)),
        head_dy=float(rng.uniform(-0.6, 0.6)),
        hair_volume=float(rng.uniform(0.0, 1.0)),
    )


def _hsv_to_rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return round(r * 255), round(g * 255), round(b * 255)
