"""What a distribution is compared with: parity, a fixed target, or the probe's own external reference."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from audit.stats.distributions import GroupCounts


@dataclasses.dataclass(frozen=True)
class Reference:
    """A reference distribution over an attribute's labels.

    - ``Reference.parity()``: every label equally likely;
    - ``Reference.target_shares({"woman": 0.5, "man": 0.5})``: a user-given
      target, normalised to sum to 1 (labels it leaves out get share 0);
    - ``Reference.probe("pct_women", "woman", scale=100)``: the share of one
      label from each probe's ``reference`` mapping (for example BLS percent
      women), the rest spread evenly over the other labels. When
      ``reference[key]`` is itself a mapping of label to share, the label's
      share of it (normalised) is taken and ``scale`` is unused;
    - ``Reference.probe("skin_tone_group", scale=1)``: without a label, each
      probe's ``reference[key]`` is itself a mapping of label to share (a
      whole planted distribution), normalised to sum to 1; labels it leaves
      out get share 0.

    Groups whose probes carry no such figure get no reference (NaN).
    """

    kind: str
    target: Mapping[str, float] | None = None
    key: str | None = None
    label: str | None = None
    scale: float = 1.0

    @classmethod
    def parity(cls) -> Reference:
        return cls(kind="parity")

    @classmethod
    def target_shares(cls, shares: Mapping[str, float]) -> Reference:
        total = float(sum(shares.values()))
        if total <= 0 or any(v < 0 for v in shares.values()):
            raise ValueError(f"a target needs non-negative shares with a positive sum, got {dict(shares)}")
        return cls(kind="target", target={k: float(v) / total for k, v in shares.items()})

    @classmethod
    def probe(cls, key: str, label: str | None = None, scale: float = 100.0) -> Reference:
        return cls(kind="probe", key=key, label=label, scale=scale)

    def describe(self) -> str:
        if self.kind == "parity":
            return "parity"
        if self.kind == "target":
            return "target " + ", ".join(f"{k}={v:.3g}" for k, v in sorted(self.target.items()))
        if self.label is None:
            return f"probe reference {self.key} (label shares)"
        return f"probe reference {self.key} (share of {self.label})"

    def shares(self, gc: GroupCounts) -> np.ndarray:
        """The expected shares, ``(groups, labels)``, aligned with ``gc.labels``; NaN rows where unknown."""
        g, k = gc.counts.shape
        if self.kind == "parity":
            return np.full((g, k), 1.0 / k)
        if self.kind == "target":
            unknown = sorted(set(self.target) - set(gc.labels))
            if unknown:
                raise ValueError(
                    f"target labels {', '.join(unknown)} are not labels of {gc.attribute} ({', '.join(gc.labels)})"
                )
            row = np.array([self.target.get(label, 0.0) for label in gc.labels])
            return np.tile(row, (g, 1))
        if self.label is None:
            return self._probe_distributions(gc)
        if self.label not in gc.labels:
            known = ", ".join(gc.labels)
            raise ValueError(f"reference label {self.label!r} is not a label of {gc.attribute} ({known})")
        j = gc.labels.index(self.label)
        out = np.full((g, k), np.nan)
        for i, ref in enumerate(gc.references):
            raw = ref.get(self.key) if ref else None
            if isinstance(raw, Mapping):  # a whole distribution: the label's normalised share, scale unused
                share = _share_of(raw, self.label)
            else:
                value = _number(raw)
                share = None if value is None else min(max(value / self.scale, 0.0), 1.0)
            if share is None:
                continue
            out[i] = (1 - share) / (k - 1) if k > 1 else 1.0
            out[i, j] = share
        return out

    def _probe_distributions(self, gc: GroupCounts) -> np.ndarray:
        g, k = gc.counts.shape
        out = np.full((g, k), np.nan)
        for i, ref in enumerate(gc.references):
            shares = ref.get(self.key) if ref else None
            if not isinstance(shares, Mapping):
                continue
            strange = sorted(set(map(str, shares)) - set(gc.labels))
            if strange:
                raise ValueError(
                    f"reference {self.key} names label(s) {', '.join(strange)} that are not labels of "
                    f"{gc.attribute} ({', '.join(gc.labels)})"
                )
            values = np.array([_number(shares.get(label, 0.0)) or 0.0 for label in gc.labels])
            if values.sum() > 0 and (values >= 0).all():
                out[i] = values / values.sum()
        return out


def _share_of(shares: Mapping, label: str) -> float | None:
    """``label``'s share of a label → share mapping, normalised; None when the mapping is not a distribution."""
    values = {str(k): _number(v) for k, v in shares.items()}
    if any(v is None or v < 0 for v in values.values()) or sum(values.values()) <= 0:
        return None
    return values.get(label, 0.0) / sum(values.values())


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return None
    return float(value)
