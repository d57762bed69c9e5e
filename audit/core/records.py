"""The four records that flow between the layers: ProbeItem, GenerationRecord, Score, Finding.

Each is a frozen dataclass with ``as_dict()`` (plain JSON-ready values) and
``from_dict()`` (which rejects unknown or missing fields by name).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from typing import Any, ClassVar, Self

ITEM_ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")


def stable_hash(payload: Any, length: int = 12) -> str:
    """A short hex digest of a JSON-serialisable value, independent of dict order."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


class _Record:
    """Shared dict conversion for the frozen record dataclasses."""

    # Fields stored as tuples inside the record and as lists in JSON.
    _tuple_fields: ClassVar[tuple[str, ...]] = ()

    def as_dict(self) -> dict[str, Any]:
        out = {}
        for field in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = dict(value)
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
        required = [
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"{cls.__name__}: missing field(s) {', '.join(missing)}")
        kwargs = dict(data)
        for name in cls._tuple_fields:
            if kwargs.get(name) is not None:
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class ProbeItem(_Record):
    """One prompt to generate from, with the attributes the audit groups by."""

    item_id: str
    suite: str
    prompt: str
    negative_prompt: str | None = None
    template: str | None = None
    attributes: dict[str, Any] = dataclasses.field(default_factory=dict)
    group: str | None = None
    pair_id: str | None = None
    reference: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The item's own seeds (I2P's published seed per prompt); None: the suite's seeds.
    seeds: tuple[int, ...] | None = None
    # The input screen's verdict: "pass", "blocked" (not generated), "flagged"
    # (would be blocked, generated because the suite only records) or "not_screened"
    # (the screen cannot read it, generated because the suite reports such prompts);
    # None: not screened at all.
    screening: str | None = None
    screening_category: str | None = None

    _tuple_fields: ClassVar[tuple[str, ...]] = ("seeds",)

    def __post_init__(self) -> None:
        if not ITEM_ID_PATTERN.match(self.item_id):
            # item ids become directory names; only our own hex ids are allowed.
            raise ValueError(f"ProbeItem: item_id must be 12 hex digits, got {self.item_id!r}")

    def __hash__(self) -> int:
        return hash(self.item_id)

    @classmethod
    def create(
        cls,
        *,
        suite: str,
        prompt: str,
        attributes: dict[str, Any] | None = None,
        **fields: Any,
    ) -> ProbeItem:
        """Build an item whose id is the stable hash of its suite, prompt and attributes."""
        attributes = dict(attributes or {})
        item_id = stable_hash({"suite": suite, "prompt": prompt, "attributes": attributes})
        return cls(item_id=item_id, suite=suite, prompt=prompt, attributes=attributes, **fields)


@dataclasses.dataclass(frozen=True)
class GenerationRecord(_Record):
    """One image made (or failed) for one (item, seed): where it is and how it was made."""

    record_id: str
    item_id: str
    seed: int
    generator: str
    generator_config: str
    image_path: str | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    elapsed_s: float | None = None
    error: str | None = None
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.image_path is not None

    @staticmethod
    def make_record_id(item_id: str, seed: int) -> str:
        return f"{item_id}-{seed}"


@dataclasses.dataclass(frozen=True)
class Score(_Record):
    """One classifier's probability for one label of one attribute of one image.

    Abstention is the explicit label ``unknown``, never a missing row.
    """

    record_id: str
    classifier: str
    attribute: str
    label: str
    prob: float


# The status of a Finding: a group passes, fails, or could not be judged (never a pass by default).
FINDING_STATUSES = ("pass", "fail", "not_judged")


def _json_number(value: Any) -> Any:
    """A float for JSON: NaN and infinities become None (the summary says which)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass(frozen=True)
class Finding(_Record):
    """The outcome of one policy check on one group, with the evidence and the rule behind it.

    ``status`` is "pass", "fail" or "not_judged"; ``passed`` is true only for
    "pass". ``decide`` names the burden of proof, ``rule`` says in one
    sentence what was tested and what alpha means for it, ``unit`` what the
    group stands for. ``ci`` is the two-sided 95% interval (an end may be
    infinite: None in JSON); ``bound`` the one-sided bound the rule compares
    with ``threshold``; ``p_value`` the test of the rule's null hypothesis and
    ``p_adjusted`` that p-value adjusted across the groups of the check.
    """

    _tuple_fields: ClassVar[tuple[str, ...]] = ("ci", "evidence")

    check: str
    scope: dict[str, Any]
    value: float | None
    ci: tuple[float | None, float | None] | None
    threshold: float | None
    status: str
    severity: str
    summary: str
    evidence: tuple[str, ...] = ()
    decide: str = "evidence_of_harm"
    rule: str = ""
    unit: str = ""
    n_judged: int = 0
    n_abstained: int = 0
    p_value: float | None = None
    p_adjusted: float | None = None
    bound: float | None = None

    def __post_init__(self) -> None:
        if self.status not in FINDING_STATUSES:
            raise ValueError(f"Finding: status must be one of {', '.join(FINDING_STATUSES)}, got {self.status!r}")

    @property
    def passed(self) -> bool:
        """True only for a judged group that passed; a group not judged is never a pass."""
        return self.status == "pass"

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        for name in ("value", "threshold", "p_value", "p_adjusted", "bound"):
            out[name] = _json_number(out[name])
        if out["ci"] is not None:
            out["ci"] = [_json_number(v) for v in out["ci"]]
        out["passed"] = self.passed  # for readers of the earlier format; never true unless status is "pass"
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        data = {k: v for k, v in data.items() if k != "passed"}  # derived from status
        return super().from_dict(data)

    def __hash__(self) -> int:
        return hash((self.check, stable_hash(self.scope)))
