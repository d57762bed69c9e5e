"""Policies: YAML lists of checks, validated into typed dataclasses with errors that name the file and key.

A policy file::

    name: my-policy
    description: what this policy is for
    checks:
      - id: gender-parity               # unique within the policy
        check: deviation                 # deviation | rate | risk_ratio | amplification | sexualised_minors
        attribute: perceived_gender_presentation
        by: [occupation]                 # probe attributes (or prompt, suite) to group by
        reference: parity                # parity | {target: {...}} | {probe: pct_women, label: feminine}
        metric: tv                       # tv | max_gap
        max: 0.2
        decide: evidence_of_harm         # or evidence_of_safety (certification)
        alpha: 0.05                      # the error rate the decision rule keeps
        min_judged: 10                   # fewer labelled images: the group is not judged

Two options apply to the whole policy: ``power`` (0.8), at which every
passing harm check states the smallest deviation its data could have shown
(its minimum detectable effect, :mod:`audit.findings.detectable`), and
``underpowered`` (``pass``): ``fail`` makes a gating check that passed while
underpowered fail the gate.

Every check takes ``decide``, ``alpha``, ``min_judged``, ``require_validation``
(judge only with a classifier validation for its attribute), ``classifier``,
``severity`` and ``description`` (:class:`audit.findings.check_fields.CheckBase`);
the keys of each check type are the fields of its policy class, in its own
module under :mod:`audit.findings.checks` (deviation and rate checks, for
example, also take ``correct_for_classifier_error`` and ``max_corrected_width``).
This module knows no check type: it parses each entry into the policy class
its ``check:`` names in the registry. The legacy ``bound`` key maps onto
``decide``: ``ci_high`` (pass only where the upper bound is within the limit)
is ``evidence_of_safety``; ``estimate`` and ``ci_low`` are
``evidence_of_harm``, since a limit is no longer applied to a point estimate.

Thresholds live here, never in the statistics.
"""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from audit.core.errors import ConfigError, DiffauditError
from audit.core.schema import load_yaml, parse
from audit.findings.check_fields import MIN_JUDGED, Check, CheckBase, ReferenceSpec, to_reference
from audit.findings.checks import CHECK_TYPES
from audit.stats import HARM, SAFETY

__all__ = [
    "MIN_JUDGED",
    "POWER",
    "Check",
    "CheckBase",
    "Policy",
    "ReferenceSpec",
    "builtin_policies",
    "load_policy",
    "policy_from_dict",
    "to_reference",
]


# What a passing harm check could have missed is stated at this power (the minimum detectable effect).
POWER = 0.8
Underpowered = Literal["pass", "fail"]


@dataclasses.dataclass(frozen=True)
class _PolicyFile:
    name: str
    checks: list[dict[str, Any]]
    description: str = ""
    power: float = POWER
    underpowered: Underpowered = "pass"


@dataclasses.dataclass(frozen=True)
class Policy:
    """A named list of checks, and the file it came from."""

    name: str
    checks: list[Check]
    description: str = ""
    source: str = ""
    power: float = POWER  # the power at which a passing harm check states what it could have missed
    underpowered: Underpowered = "pass"  # "fail": a gating check that passed underpowered fails the gate


def policy_from_dict(data: Any, *, source: str) -> Policy:
    """Validate a policy mapping (as read from YAML); errors name ``source`` and the key."""
    if data is None:
        raise ConfigError(f"{source}: the file is empty")
    shape = parse(_PolicyFile, data, source=source)
    if not 0 < shape.power < 1:
        raise ConfigError(f"{source}: power: expected a probability between 0 and 1, got {shape.power!r}")
    checks: list[Check] = []
    seen: set[str] = set()
    for i, entry in enumerate(shape.checks):
        key = f"checks[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {entry!r}")
        kind = entry.get("check")
        if kind is None:
            known = ", ".join(CHECK_TYPES.available())
            raise ConfigError(f"{source}: missing required key '{key}.check' (one of {known})")
        check = parse(_policy_class(kind, source, key), entry, source=source, key=key)
        check = _legacy_bound(check, entry, source, key)
        if hasattr(check, "reference"):
            reference = _reference(check.reference, source, f"{key}.reference", parity=check.reference_may_be_parity)
            check = dataclasses.replace(check, reference=reference)
        if check.id in seen:
            raise ConfigError(f"{source}: {key}.id: duplicate check id {check.id!r}")
        seen.add(check.id)
        checks.append(check)
    return Policy(
        name=shape.name,
        checks=checks,
        description=shape.description,
        source=source,
        power=shape.power,
        underpowered=shape.underpowered,
    )


def _policy_class(kind: Any, source: str, key: str) -> type:
    """The dataclass a policy entry of check type ``kind`` is parsed into: its registered check type's
    ``policy_class`` (:data:`audit.findings.check_types.CHECK_TYPES`, built-in or from another package)."""
    known = CHECK_TYPES.available()
    if not isinstance(kind, str) or kind not in known:
        raise ConfigError(f"{source}: {key}.check: unknown check {kind!r}; known checks: {', '.join(known)}")
    try:
        return CHECK_TYPES.get(kind).policy_class
    except DiffauditError as exc:
        raise ConfigError(f"{source}: {key}.check: {exc}") from None


def _legacy_bound(check: Check, entry: dict, source: str, key: str) -> Check:
    """Map the legacy ``bound`` key onto ``decide``; a contradiction between the two is an error."""
    bound = getattr(check, "bound", None)
    if bound is None:
        return check
    implied = SAFETY if bound == "ci_high" else HARM
    if entry.get("decide", implied) != implied:
        raise ConfigError(
            f"{source}: {key}.bound: bound {bound!r} means decide {implied!r}, but decide is {entry['decide']!r}; "
            "drop bound (decide replaces it)"
        )
    return dataclasses.replace(check, decide=implied)


def _reference(value: Any, source: str, key: str, *, parity: bool) -> str | ReferenceSpec:
    if isinstance(value, ReferenceSpec) or (parity and value == "parity"):
        return value
    if isinstance(value, dict):
        return parse(ReferenceSpec, value, source=source, key=key)
    allowed = "'parity' or a mapping with 'target' or 'probe'" if parity else "a mapping with 'target' or 'probe'"
    raise ConfigError(f"{source}: {key}: expected {allowed}, got {value!r}")


def builtin_policies() -> dict[str, Any]:
    """Built-in policy names and their package files."""
    folder = resources.files("audit.findings") / "policies"
    return {entry.name[: -len(".yaml")]: entry for entry in folder.iterdir() if entry.name.endswith(".yaml")}


def load_policy(name_or_path: str | Path) -> Policy:
    """A built-in policy by name (``default``) or a policy YAML by path."""
    builtins = builtin_policies()
    if str(name_or_path) in builtins:
        import yaml

        entry = builtins[str(name_or_path)]
        return policy_from_dict(
            yaml.safe_load(entry.read_text(encoding="utf-8")), source=f"built-in policy {entry.name}"
        )
    path = Path(name_or_path)
    if not path.exists():
        known = ", ".join(sorted(builtins))
        raise ConfigError(f"policy {str(name_or_path)!r} is neither a built-in policy ({known}) nor a file")
    return policy_from_dict(load_yaml(path), source=str(path))
