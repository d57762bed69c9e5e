"""Refactoring the findings code moves no finding: every check type on one real run gives the findings and check
summaries recorded before the move (tests/audit/findings/findings_golden.py says how they were made)."""

from __future__ import annotations

from tests.audit.findings.findings_golden import differences, expected, findings


def test_every_check_type_gives_the_findings_recorded_before_the_move(tmp_path):
    old, new = expected(), findings(tmp_path / "run")
    assert set(new) == set(old)
    changed = list(differences(old, new))
    assert not changed, "\n".join(changed[:20])
