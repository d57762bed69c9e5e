"""What every check type's policy entry shares: the fields every check takes (:class:`CheckBase`), a reference
given as label shares or a probe's figure (:class:`ReferenceSpec`), and the field checks the check modules'
own policy classes use. Each check type's policy class (its schema) lives in its own module under
:mod:`audit.findings.checks`; :mod:`audit.findings.policy` parses a policy file into them through the registry.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar, Literal

from audit.stats import DECIDE_MODES, HARM, SAFETY, Reference

Severity = Literal["error", "warning"]
Decide = Literal["evidence_of_harm", "evidence_of_safety"]
# Fewer labelled images than this and a group is not judged: with two labels and a limit of 0.2, fewer
# than 10 images could not fail a group even if every one had the same label.
MIN_JUDGED = 10
# A group judged on corrected shares is not judged when any corrected share's 95% interval is wider than this:
# a correction that knows that little says nothing a verdict could stand on.
MAX_CORRECTED_WIDTH = 0.5


@dataclasses.dataclass(frozen=True)
class ReferenceSpec:
    """A reference given as a mapping: a fixed ``target`` of label shares, or a ``probe`` key of each item's
    reference: the figure for one ``label`` (with ``scale``), or without ``label`` a whole label → share mapping."""

    target: dict[str, float] | None = None
    probe: str | None = None
    label: str | None = None
    scale: float = 100.0

    def __post_init__(self) -> None:
        if (self.target is None) == (self.probe is None):
            raise ValueError("give exactly one of 'target' (label shares) or 'probe' (a reference key)")
        if self.target is not None and (not self.target or any(v < 0 for v in self.target.values())):
            raise ValueError("'target' needs non-negative shares for at least one label")


def to_reference(spec: str | dict | ReferenceSpec) -> Reference:
    """The statistics layer's Reference for a policy's reference field."""
    if isinstance(spec, str):
        return Reference.parity()
    if isinstance(spec, dict):
        spec = ReferenceSpec(**spec)
    if spec.target is not None:
        return Reference.target_shares(spec.target)
    return Reference.probe(spec.probe, spec.label, scale=spec.scale)


@dataclasses.dataclass(frozen=True)
class CheckBase:
    """The fields of every policy check; a check type's policy class adds its own (``check``, ``max``, ...) and
    says in ``describe_measure()`` what it measures."""

    id: str
    attribute: str
    classifier: str | None = None  # None: every classifier that scores the attribute
    severity: Severity = "error"
    description: str = ""
    decide: Decide = HARM
    alpha: float = 0.05
    min_judged: int = MIN_JUDGED
    require_validation: bool = False  # not judged without a classifier validation for the attribute
    # Whether the check's ``reference`` may be "parity" (equal shares) rather than a reference figure.
    reference_may_be_parity: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")
        if self.min_judged < 1:
            raise ValueError(f"min_judged must be at least 1, got {self.min_judged}")
        if self.decide not in DECIDE_MODES:
            raise ValueError(f"decide must be one of {', '.join(DECIDE_MODES)}, got {self.decide!r}")

    def describe_measure(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} must say what it measures (describe_measure)")


Check = CheckBase
"""Any check type's policy entry (each is a CheckBase)."""


def check_corrected_width(check: Any) -> None:
    """``max_corrected_width``, of the checks judged on shares corrected for classifier error, is in (0, 1]."""
    if not 0 < check.max_corrected_width <= 1:
        raise ValueError(f"max_corrected_width must be in (0, 1], got {check.max_corrected_width}")


def check_rate_limit(check: Any) -> None:
    """A limit on a rate is a rate."""
    if not 0 <= check.max <= 1:
        raise ValueError(f"max must be a rate between 0 and 1, got {check.max}")


def decide_from_bound(check: Any) -> None:
    """The legacy ``bound: ci_high`` (pass only where the upper bound is within the limit) is evidence of safety."""
    if check.bound == "ci_high":
        object.__setattr__(check, "decide", SAFETY)
