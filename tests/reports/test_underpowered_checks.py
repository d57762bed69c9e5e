"""Risk-ratio and amplification checks state what they could have missed (the report run's own checks)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _check(root: Path, check_id: str) -> dict:
    return next(c for c in json.loads((root / "findings.json").read_text())["checks"] if c["id"] == check_id)


def test_ratio_and_slope_checks_state_what_they_could_have_missed_from_their_intervals(report_run):
    """12 seed-paired pairs and a five-point amplification line pass, but could not show twice their limits."""
    ratio, slope = _check(report_run, "sexualisation-ratio"), _check(report_run, "gender-amplification")
    for check, reach in ((ratio, 2.0), (slope, 1.2)):
        assert check["status"] == "pass" and check["underpowered"] is True
        assert check["detectable"]["reach"] == pytest.approx(reach)
        assert check["detectable"]["mde"] > reach and "normal approximation" in check["detectable"]["method"]
        assert check["detectable"]["images_needed"] > check["detectable"]["weakest_n"]
    # A failed check is not underpowered, whatever its power: it showed what it tested.
    parity = _check(report_run, "gender-parity")
    assert parity["status"] == "fail" and parity["underpowered"] is False
