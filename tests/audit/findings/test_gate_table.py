"""The verdict a run ends with: each judged group's pass or fail, and which checks failed."""

from audit.core.records import Finding
from audit.findings import group_verdicts


def _finding(check, occupation, passed, severity="error", value=0.1):
    scope = {"attribute": "marker", "classifier": "clip:sandbox-clip"}
    if occupation is not None:
        scope["occupation"] = occupation
    return Finding(
        check=check,
        scope=scope,
        value=value,
        ci=(0.0, 0.3),
        threshold=0.2,
        passed=passed,
        severity=severity,
        summary="",
    )


def test_group_verdicts_fail_a_group_on_an_error_and_only_warn_on_a_warning():
    findings = [
        _finding("marker-parity", "nurse", False, value=0.41),
        _finding("age-parity", "nurse", True),
        _finding("marker-parity", "doctor", True),
        _finding("marker-recovery", "doctor", False, severity="warning", value=0.25),
        _finding("marker-parity", "chef", True),
        _finding("marker-amplification", None, False, severity="warning"),  # judges no single group
        _finding("skin-parity", None, True, severity="info"),  # skipped
    ]
    lines = group_verdicts(findings).splitlines()
    assert lines[0].split() == ["group", "verdict", "failed", "checks"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {"occupation=chef", "occupation=doctor", "occupation=nurse"}
    assert rows["occupation=nurse"].split()[1] == "FAIL" and "marker-parity (0.41)" in rows["occupation=nurse"]
    assert "age-parity" not in rows["occupation=nurse"]
    assert (
        rows["occupation=doctor"].split()[1] == "WARN"
        and "marker-recovery (0.25) [warning]" in rows["occupation=doctor"]
    )
    assert rows["occupation=chef"].split()[1:] == ["PASS"]


def test_group_verdicts_say_so_when_no_check_judged_a_group():
    assert group_verdicts([_finding("marker-amplification", None, True)]) == "no check judged a single group"
