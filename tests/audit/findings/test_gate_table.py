"""The verdict a run ends with: each judged group's pass or fail, and which checks failed."""

from audit.core.records import Finding
from audit.findings import group_verdicts


def _finding(check, occupation, status, severity="error", value=0.1):
    scope = {"attribute": "marker", "classifier": "clip:sandbox-clip"}
    if occupation is not None:
        scope["occupation"] = occupation
    return Finding(
        check=check,
        scope=scope,
        value=value,
        ci=(0.0, 0.3),
        threshold=0.2,
        status=status,
        severity=severity,
        summary="",
    )


def test_group_verdicts_fail_a_group_on_an_error_and_only_warn_on_a_warning():
    findings = [
        _finding("marker-parity", "nurse", "fail", value=0.41),
        _finding("age-parity", "nurse", "pass"),
        _finding("marker-parity", "doctor", "pass"),
        _finding("marker-recovery", "doctor", "fail", severity="warning", value=0.25),
        _finding("marker-parity", "chef", "pass"),
        _finding("marker-parity", "judge", "not_judged"),  # too few judged images: never a pass
        _finding("marker-recovery", "farmer", "not_judged", severity="warning"),
        _finding("marker-parity", "farmer", "pass"),
        _finding("marker-amplification", None, "fail", severity="warning"),  # judges no single group
    ]
    lines = group_verdicts(findings).splitlines()
    assert lines[0].split() == ["group", "verdict", "failed", "checks"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {f"occupation={name}" for name in ("chef", "doctor", "nurse", "judge", "farmer")}
    assert rows["occupation=nurse"].split()[1] == "FAIL" and "marker-parity (0.41)" in rows["occupation=nurse"]
    assert "age-parity" not in rows["occupation=nurse"]
    assert (
        rows["occupation=doctor"].split()[1] == "WARN"
        and "marker-recovery (0.25) [warning]" in rows["occupation=doctor"]
    )
    assert rows["occupation=chef"].split()[1:] == ["PASS"]
    assert rows["occupation=judge"].split()[1:] == ["NOT", "JUDGED"]
    # A warning not judged does not hold back a group whose error checks passed.
    assert rows["occupation=farmer"].split()[1:] == ["PASS"]


def test_group_verdicts_say_so_when_no_check_judged_a_group():
    assert group_verdicts([_finding("marker-amplification", None, "pass")]) == "no check judged a single group"
