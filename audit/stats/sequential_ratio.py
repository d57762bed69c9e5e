"""Anytime-valid evidence about a risk ratio (the rate of a label in arm A over its rate in arm B).

The ratio is at most c exactly when ``E[a - c b] <= 0``, with ``a`` and ``b``
the two arms' observations at one step: a linear statement, so each step's
``x = (a - c b + c) / (1 + c)`` lies in [0, 1] and has mean at most
``c / (1 + c)`` under "ratio <= c". The betting e-process of
:mod:`audit.stats.sequential` (aGRAPA) on x is evidence the ratio exceeds c,
and the Beta-mixture likelihood ratio below is evidence it is below c; a
confidence sequence inverts both on a grid of ratios (log-spaced).

What a step is decides the estimand, and the findings choose it per design
(:mod:`audit.findings.sequential`):

- **paired by seed** (counterfactual pairs): a step is a seed position, and
  ``a``, ``b`` are the sums over the pairs complete at that seed (both images
  judged) of each arm's label, over the number of pairs. ``E[a - c b] <= 0``
  is then "the rate in A over the rate in B among complete pairs is at most
  c" — the fixed paired test's estimand, on whole seed positions.
- **independent arms**: a step is one observation of the group estimand
  (:mod:`audit.stats.group_estimand`): each prompt's first judged image after
  the previous step, ``a`` and ``b`` the means over each arm's prompts — the
  arms' rates with their prompts weighted equally, as the fixed unpaired test
  takes them.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from audit.stats.sequential import log_evidence_above, log_evidence_below

RATIO_GRID = np.round(10 ** np.arange(-2.0, 2.0 + 1e-9, 0.02), 6)  # 0.01 .. 100, 2% steps


def ratio_observations(a, b, limits) -> tuple[np.ndarray, np.ndarray]:
    """Each step's observation ``(a - c b + c) / (1 + c)`` at every limit c, and its null mean ``c / (1 + c)``:
    (C, T) and (C,)."""
    limits = np.atleast_1d(np.asarray(limits, dtype=float))
    a, b = np.asarray(a, float), np.asarray(b, float)
    x = (a[None, :] - limits[:, None] * b[None, :] + limits[:, None]) / (1 + limits[:, None])
    return x, limits / (1 + limits)


def ratio_evidence(a, b, limits) -> tuple[np.ndarray, np.ndarray]:
    """Log e-values after each step that the ratio exceeds / is below each limit: two (T, C) arrays."""
    x, null = ratio_observations(a, b, limits)
    beyond = log_evidence_above(x, null)
    within = log_evidence_below(x, null)
    return beyond.T, within.T


@dataclasses.dataclass
class RatioTrajectory:
    """One group's evidence about its risk ratio after each step: what the stop rule and the report read (the
    interface of :class:`audit.stats.sequential.Trajectory`)."""

    positions: np.ndarray  # (T,) last seed position of each step
    a: np.ndarray  # (T,) arm A's observation
    b: np.ndarray  # (T,) arm B's observation
    judged: np.ndarray  # (T,) judged units so far (complete pairs, or the smaller arm's judged images)
    images: np.ndarray  # (T,) images so far
    limit: float
    log_beyond: np.ndarray = dataclasses.field(init=False)
    log_within: np.ndarray = dataclasses.field(init=False)
    estimate: np.ndarray = dataclasses.field(init=False)  # (T,) sum a / sum b so far (inf: no B event yet)

    def __post_init__(self) -> None:
        beyond, within = ratio_evidence(self.a, self.b, self.limit)
        self.log_beyond, self.log_within = beyond[:, 0], within[:, 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.estimate = np.cumsum(self.a) / np.cumsum(self.b)

    def at(self, position_end: int) -> int:
        return int(np.searchsorted(self.positions, position_end, side="left"))

    @functools.cached_property
    def _grid_evidence(self) -> tuple[np.ndarray, np.ndarray]:
        return ratio_evidence(self.a, self.b, RATIO_GRID)

    def bounds(self, confidence: float, t: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        each = 1 - (1 - confidence) / 2
        return self.one_sided(each, "lower", t), self.one_sided(each, "upper", t)

    def one_sided(self, confidence: float, side: str, t: int | None = None) -> np.ndarray:
        """A one-sided confidence sequence for the ratio after each step up to ``t`` (0 and inf at the grid's
        ends: a bound the grid cannot show)."""
        t = len(self.positions) if t is None else t
        threshold = math.log(1 / (1 - confidence))
        beyond, within = self._grid_evidence
        grid = RATIO_GRID
        if side == "lower":
            kept = beyond[:t] < threshold
            first = np.argmax(kept, axis=1)
            low = np.where(kept.any(axis=1), np.where(first > 0, grid[np.maximum(first - 1, 0)], 0.0), grid[-1])
            return np.maximum.accumulate(low)
        kept = within[:t] < threshold
        last = len(grid) - 1 - np.argmax(kept[:, ::-1], axis=1)
        above = np.where(last < len(grid) - 1, grid[np.minimum(last + 1, len(grid) - 1)], np.inf)
        high = np.where(kept.any(axis=1), above, 0.0)
        return np.minimum.accumulate(high)
