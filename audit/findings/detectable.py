"""What a passing harm check could have missed: its minimum detectable effect, and whether it is underpowered.

Under the burden of evidence of harm a check passes unless its data show a
group beyond the limit, so a pass on few images says little. For each such
check this states the smallest value of its metric that its weakest judged
group (the fewest judged images) would have been failed at, with the
policy's ``power``, in the hardest case for Benjamini-Hochberg: one group
beyond the limit among all the judged groups (level alpha / groups). It is
computed by the planner's own functions (:mod:`audit.stats.planning`), so it
agrees with ``diffaudit plan``.

Where a check's group pools several prompts (an occupation over its
templates) the seeds per prompt are the images the group needs divided by its
prompts; ``diffaudit plan`` plans per prompt, so its figure is then a
conservative guide rather than the same number.

A check is **underpowered** when that minimum detectable effect lies beyond
the *reach*: the value twice as far from no effect as the limit (a TV of 0.4
for a limit of 0.2 from parity; a rate of 0.02 for a limit of 0.01; a risk
ratio of 2 for 1.5; a slope of 1.2 for 1.1) — a group that far off could
still pass. It still passes; the seeds that would reach are named, with the
``diffaudit plan`` command that gives them. Zero-tolerance checks (``max:
0``) state the flag rate they would see but are never underpowered: any
rate above 0 is beyond their limit.

Deviation checks are planned as distances from parity (the planner's
model), for the check's number of labels; risk-ratio and amplification
checks by a normal approximation from the width of the weakest group's
interval.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from audit.findings.check_fields import Check
from audit.findings.check_types import CHECK_TYPES
from audit.findings.judgement import CheckResult
from audit.stats import HARM, NOT_JUDGED, PASS

Z95 = stats.norm.ppf(0.975)


def detectable(
    check: Check, result: CheckResult, *, power: float, suites: Sequence[str] = (), prompts_per_group: int = 1
) -> dict[str, Any] | None:
    """The check's minimum detectable effect at ``power`` (a dict, see the module), or None where it has none:
    a check of evidence of safety, or one with no judged group. ``suites``: the run's suites, for the command;
    ``prompts_per_group``: prompts a group of the check pools (its images per group = seeds x prompts)."""
    if check.decide != HARM or result.table.empty or "status" not in result.table.columns:
        return None
    judged = result.table[result.table["status"] != NOT_JUDGED]
    if judged.empty:
        return None
    mde_of = getattr(CHECK_TYPES.get(check.check), "minimum_detectable", None)
    if mde_of is None:  # a check type that states no minimum detectable effect
        return None
    out = mde_of(check, judged, power, suites)
    if out.get("images_needed") is None and out["seeds_needed"] is not None:
        out["images_needed"] = out["seeds_needed"]  # per group, judged or abstained
        out["seeds_needed"] = math.ceil(out["seeds_needed"] / max(prompts_per_group, 1))
    out["prompts_per_group"] = prompts_per_group
    passed = result.summary.get("status") == PASS
    out["underpowered"] = bool(passed and out["underpowered"]) if out["underpowered"] is not None else None
    out["summary"] = _sentence(check, out, passed)
    return out


def attach_detectable(
    check: Check, result: CheckResult, *, power: float, suites: Sequence[str] = (), prompts_per_group: int = 1
) -> None:
    """Write the check's minimum detectable effect into its summary (``detectable`` and ``underpowered``)."""
    found = detectable(check, result, power=power, suites=suites, prompts_per_group=prompts_per_group)
    result.summary["detectable"] = found
    result.summary["underpowered"] = bool(found and found["underpowered"])


def abstention_share(judged) -> float:
    n, unknown = judged["n_judged"].sum(), judged["n_abstained"].sum()
    return float(unknown / (n + unknown)) if n + unknown else 0.0


def effective_n(judged) -> np.ndarray:
    if "effective_n" in judged.columns:
        return judged["effective_n"].fillna(judged["n_judged"]).to_numpy(float)
    if "design_effect" in judged.columns:
        return (judged["n_judged"] / judged["design_effect"].fillna(1.0).clip(lower=1.0)).to_numpy(float)
    return judged["n_judged"].to_numpy(float)


def plan_command(suites: Sequence[str], options: str) -> str:
    names = " ".join(shlex.quote(str(s)) for s in suites) or "SUITE"
    return f"diffaudit plan {names} {options}"


def normal_mde(
    estimate_se: float, limit: float, reach: float, power: float, level: float, *, log: bool, df=None
) -> tuple[float | None, float | None]:
    """Minimum detectable value and the factor by which the images must grow to detect ``reach`` (normal or t)."""
    if not np.isfinite(estimate_se) or estimate_se <= 0:
        return None, None
    dist = stats.t(df) if df and np.isfinite(df) else stats.norm
    shift = (dist.ppf(1 - level) + dist.ppf(power)) * estimate_se
    mde = limit * math.exp(shift) if log else limit + shift
    room = math.log(reach / limit) if log else reach - limit
    return mde, (shift / room) ** 2


def approximate_mde(judged, i: int, power: float, mde, reach: float, factor, groups: int, what: str) -> dict[str, Any]:
    weakest = int(judged["n_judged"].iloc[i])
    images = math.ceil(weakest * factor) if factor is not None and np.isfinite(factor) else None
    return mde_result(
        power,
        mde,
        weakest,
        groups,
        reach=reach,
        images_needed=images,
        fix=None
        if images is None
        else f"about {images} judged images ({images / max(weakest, 1):.1f} times as many as now)",
        method=f"{what}, normal approximation from the width of the weakest group's 95% interval",
    )


def mde_result(power: float, mde, weakest: int, groups: int, *, reach=None, method: str, **more) -> dict[str, Any]:
    """The fields every minimum detectable effect has; without a reach (zero tolerance) nothing is underpowered."""
    return {
        "power": power,
        "mde": mde,
        "reach": reach,
        "underpowered": None if reach is None else (mde is None or mde > reach + 1e-9),
        "weakest_n": weakest,
        "groups": groups,
        "seeds_needed": None,
        "fix": None,
        "method": method,
        **more,
    }


def _sentence(check: Check, out: dict[str, Any], passed: bool) -> str:
    """One plain sentence: what the weakest group could have shown, and the fix when underpowered."""
    unit = "group" if out["groups"] == 1 else f"weakest of {out['groups']} groups"
    if out["mde"] is None:
        caught = f"no value of its metric would fail it with {out['power']:.0%} power"
    else:
        caught = f"it would be failed with {out['power']:.0%} power only at {out['mde']:.3g} or more"
    text = f"with {out['weakest_n']} judged images in its {unit}, {caught}"
    if out["reach"] is None:
        return text + " (zero tolerance: any flagged image fails)"
    if out["underpowered"]:
        text += f"; underpowered: a group at {out['reach']:.3g} (twice as far from no effect as the limit) could pass"
        if out["seeds_needed"] and out["prompts_per_group"] > 1:
            text += (
                f"; fix: {out['images_needed']} images per group, {out['seeds_needed']} seeds per prompt of its "
                f"{out['prompts_per_group']} (`{out['fix']}` plans per prompt)"
            )
        elif out["seeds_needed"]:
            text += f"; fix: {out['seeds_needed']} seeds per prompt (`{out['fix']}`)"
        elif out["fix"]:
            text += f"; fix: {out['fix']}"
    elif passed:
        text += f" (a group at {out['reach']:.3g} would be caught)"
    return text
