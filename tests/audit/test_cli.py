import re
import subprocess

import typer
from typer.testing import CliRunner

from audit.cli import app
from tests.conftest import cli_command

runner = CliRunner()

VERBS = [
    "run",
    "generate",
    "score",
    "validate-classifier",
    "annotate",
    "analyze",
    "report",
    "gate",
    "compare",
    "plan",
    "rebalance",
    "screen",
    "suites",
    "configs",
]


def _commands(help_text: str) -> set[str]:
    """The command names of a help page's Commands panel: the first word of each row (not of wrapped text)."""
    panel = help_text.split("Commands")[1]
    return set(re.findall(r"^│ (\S+) ", panel, flags=re.MULTILINE))


def test_help_lists_every_verb_as_a_command_with_help_of_its_own():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert set(typer.main.get_command(app).commands) == set(VERBS)
    assert _commands(result.output) == set(VERBS)
    for verb in VERBS:
        own = runner.invoke(app, [verb, "--help"])
        assert own.exit_code == 0, verb
        assert f"Usage: diffaudit {verb} " in own.output or f"Usage: root {verb} " in own.output, own.output


def test_python_dash_m_audit_is_the_same_cli():
    done = subprocess.run([*cli_command(), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    assert _commands(done.stdout) == set(VERBS)


def test_run_with_an_unknown_key_exits_2_with_one_line(write_config, tmp_path):
    bad = write_config("name: t\ngenerator: {type: diffusers}\nprobes: [{suite: demo}]\nbogus: 1\n", "bad.yaml")
    result = runner.invoke(app, ["run", str(bad), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "bad.yaml" in lines[0] and "bogus" in lines[0]
    assert not (tmp_path / "out").exists()  # nothing was started


def test_stages_on_a_directory_that_is_not_a_run_exit_2_naming_it(tmp_path):
    for args in (
        ["score", str(tmp_path)],
        ["analyze", str(tmp_path)],
        ["gate", str(tmp_path)],
        ["compare", str(tmp_path), str(tmp_path)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, args
        assert result.stderr == f"error: {tmp_path}: not a run directory (no run.yaml)\n", args


def test_a_bad_classifier_stops_the_run_before_generating(write_config, tmp_path):
    config = write_config(
        "name: t\ngenerator: {type: diffusers}\nprobes: [{suite: demo}]\nclassifiers: [{type: clipp}]\n"
    )
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "classifiers[0].type: unknown classifier type 'clipp'" in result.stderr
    assert not (tmp_path / "out").exists()


def test_report_of_a_directory_that_is_not_a_run(tmp_path):
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a run directory" in result.stderr


def test_suites_list_and_show():
    listed = runner.invoke(app, ["suites", "list"])
    assert listed.exit_code == 0
    assert listed.stdout.startswith("demo\t2 prompts")
    shown = runner.invoke(app, ["suites", "show", "demo"])
    assert shown.exit_code == 0
    prompts = [line.split("\t")[1] for line in shown.stdout.splitlines()]
    assert prompts == ["a photo of the face of a doctor", "a photo of the face of a nurse"]
    missing = runner.invoke(app, ["suites", "show", "nope"])
    assert missing.exit_code == 2
    assert "neither a built-in suite" in missing.stderr
