"""Light stages stay light: analyze, report, gate and compare never import torch, and a gate on a finished run reads findings.json."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from audit.cli import app
from tests.audit.findings.run_builder import build_run, item, labels_of

GENDER = "perceived_gender_presentation"
# Runs a diffaudit verb in this interpreter, then reports which heavy libraries it imported.
PROBE = (
    "import runpy, sys\n"
    "sys.argv = ['diffaudit', *sys.argv[1:]]\n"
    "code = 0\n"
    "try:\n    runpy.run_module('audit', run_name='__main__')\n"
    "except SystemExit as exit:\n    code = exit.code or 0\n"
    "print(code, *[m for m in ('torch', 'pandas', 'scipy') if m in sys.modules], file=sys.stderr)\n"
)


def _verb(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args, "-q"], capture_output=True, text=True, timeout=120)
    code, *modules = done.stderr.splitlines()[-1].split()
    return int(code), set(modules)


def _run(root, feminine_per_prompt):
    planted = [
        (
            item(f"a photo of person {i}", attributes={"occupation": f"job{i}"}),
            {GENDER: labels_of({"feminine": feminine, "masculine": 40 - feminine})},
        )
        for i, feminine in enumerate(feminine_per_prompt)
    ]
    return build_run(root, planted)


@pytest.fixture
def finished_run(tmp_path):
    """A run with scores in which one prompt of three is biased (the default policy's gender-parity fails)."""
    return _run(tmp_path / "run", [20, 38, 19])


def test_analyze_report_gate_and_compare_import_no_torch(finished_run):
    for verb in (["analyze"], ["report"], ["gate"], ["compare", str(finished_run)]):
        code, modules = _verb(verb[0], str(finished_run), *verb[1:])
        assert code in (0, 1), f"diffaudit {verb[0]} exited {code}"
        assert "torch" not in modules, f"diffaudit {verb[0]} imported torch"


def test_a_gate_on_an_analysed_run_reads_findings_json_and_nothing_heavy(finished_run):
    fresh = CliRunner().invoke(app, ["gate", str(finished_run)])  # no findings.json yet: evaluated on the scores
    assert fresh.exit_code == 1 and "from findings.json" not in fresh.stdout
    assert CliRunner().invoke(app, ["analyze", str(finished_run)]).exit_code == 0
    started = time.perf_counter()
    code, modules = _verb("gate", str(finished_run))
    elapsed = time.perf_counter() - started
    assert code == 1 and not modules, f"the gate imported {modules}"
    saved = CliRunner().invoke(app, ["gate", str(finished_run)])
    assert saved.exit_code == 1 and "from findings.json" in saved.stdout
    # The same verdict and table as evaluating the policy afresh.
    assert saved.stdout.replace(", from findings.json", "") == fresh.stdout
    assert elapsed < 10, f"took {elapsed:.1f} s"


def test_a_gate_evaluates_afresh_when_findings_json_is_not_current(finished_run, tmp_path):
    import shutil

    assert CliRunner().invoke(app, ["analyze", str(finished_run)]).exit_code == 0
    # Another policy than the one findings.json was written under.
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text(f"name: lenient\nchecks:\n  - {{id: parity, check: deviation, attribute: {GENDER}, max: 0.5}}\n")
    other = CliRunner().invoke(app, ["gate", str(finished_run), "--policy", str(lenient)])
    assert other.exit_code == 0 and "from findings.json" not in other.stdout
    # Scores rescored after the analysis (the same images, now balanced): findings.json is out of date.
    balanced = _run(tmp_path / "balanced", [20, 21, 19])
    shutil.copy(balanced / "scores.parquet", finished_run / "scores.parquet")
    os.utime(finished_run / "scores.parquet", ns=(time.time_ns() + 10**9,) * 2)
    redone = CliRunner().invoke(app, ["gate", str(finished_run)])
    assert redone.exit_code == 0 and "from findings.json" not in redone.stdout
