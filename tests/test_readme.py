"""Every command the README prints works as pasted into a fresh shell after `make demo`.

The commands are read from the README itself: every line of its ``sh`` blocks, and every command written inline
in its prose (a code span that starts with ``.venv/bin/``, ``diffaudit``, ``python -m``, ``make`` or ``bash``;
a synopsis with placeholders such as ``diffaudit plan SUITE`` is not a command). A block line must start
with what a fresh shell has (``make``, ``bash``, ``.venv/bin/...``); prose may also say ``diffaudit ...`` or
``python ...``, which the README says work once ``.venv`` is activated. Then each command is checked against
the project: Make targets exist, extras exist, modules exist and take the options given, and every
``diffaudit`` command line parses with the real CLI (options, arguments, built-in config and policy names,
run directories that an earlier command of the README makes). The commands that need no run directory and
finish in a second are run for real.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import click
import pytest
import typer.main
from typer.testing import CliRunner

from audit.builtin_configs import builtin_configs
from audit.cli import app
from audit.findings.policy import builtin_policies
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
FRESH_SHELL = ("make", "bash", ".venv/bin/")
ACTIVATED = ("diffaudit", "python", "pip")
# A word that stands for something the reader fills in: a synopsis, not a command.
PLACEHOLDER = re.compile(r"^[A-Z][A-Z_.]*$|[\[\]|…]|\.\.\.")


def _block_commands() -> list[str]:
    commands = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", README, flags=re.MULTILINE | re.DOTALL):
        if lang == "sh":
            commands += [line for line in body.splitlines() if shlex.split(line, comments=True)]
    return commands


def _prose_commands() -> list[str]:
    prose = re.sub(r"^```.*?^```", "", README, flags=re.MULTILINE | re.DOTALL)
    prose = "\n".join(line for line in prose.splitlines() if not line.startswith("|"))  # tables: synopses
    spans = [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)]
    starts = (".venv/bin/", "diffaudit ", "python -m ", "make ", "bash ")
    return [
        span
        for span in spans
        if span.startswith(starts) and not any(PLACEHOLDER.search(word) for word in shlex.split(span)[1:])
    ]


BLOCKS = _block_commands()
PROSE = _prose_commands()


def test_the_readme_commands_are_found():
    assert ".venv/bin/diffaudit run sandbox-high-guidance" in BLOCKS
    assert "make demo   # set up .venv, run the built-in default audit (the sandbox world), print its verdict" in BLOCKS
    assert ".venv/bin/diffaudit gate runs/sandbox" in PROSE
    assert len(BLOCKS) >= 10 and len(PROSE) >= 8


@pytest.mark.parametrize("line", BLOCKS)
def test_a_block_line_runs_in_a_fresh_shell(line):
    assert line.startswith(FRESH_SHELL), f"{line!r}: a fresh shell has no {line.split()[0]!r}; use .venv/bin/"


def _words(command: str) -> tuple[str, list[str]]:
    words = shlex.split(command, comments=True)
    program = words[0].removeprefix(".venv/bin/")
    return program, words[1:]


def _makes_run_dirs() -> set[str]:
    """The run directories the README's commands make: runs/<name> of each built-in config it runs."""
    made = {"runs/sandbox"}  # make demo
    for command in BLOCKS + PROSE:
        program, args = _words(command)
        if program == "diffaudit" and args[:1] == ["run"] and len(args) > 1 and args[1] in builtin_configs():
            out = args[args.index("--out") + 1] if "--out" in args else f"runs/{args[1]}"
            made.add(out)
    return made


def _check_diffaudit(args: list[str]) -> None:
    """The command line parses with the real CLI, and what it names exists."""
    group = typer.main.get_command(app)
    if args == ["--version"]:
        return
    ctx = click.Context(group, info_name="diffaudit")
    command = group.get_command(ctx, args[0])
    assert command is not None, f"no command {args[0]!r}"
    rest = args[1:]
    if not rest:
        return  # `diffaudit compare` in a sentence: the verb's name
    if isinstance(command, click.Group):
        ctx = click.Context(command, info_name=args[0], parent=ctx)
        command, rest = command.get_command(ctx, rest[0]), rest[1:]
        assert command is not None, args
    params = command.make_context(command.name, list(rest), parent=ctx).params
    if command.name == "run" and params.get("config") is not None:
        config = str(params["config"])
        assert config in builtin_configs() or (REPO / config).is_file(), config
    if params.get("policy"):
        assert params["policy"] in builtin_policies(), params["policy"]
    made = _makes_run_dirs()
    for key in ("run_dir", "baseline", "candidate"):
        if params.get(key) is not None:
            assert str(params[key]) in made, f"{params[key]}: no command of the README makes this run"


def _check(command: str) -> None:
    program, args = _words(command)
    if program == "make":
        for target in args:
            assert re.search(rf"^{re.escape(target)}:", (REPO / "Makefile").read_text(), flags=re.MULTILINE), target
    elif program == "bash":
        assert (REPO / args[0]).is_file(), args[0]
    elif program == "pip":
        assert args[0] == "install", command
        for arg in args[1:]:
            extras = re.fullmatch(r"-e|\.\[(\w+(?:,\w+)*)\]|--no-deps|[\w-]+==[\w.]+", arg)
            assert extras, f"{arg!r} in {command!r}"
            for extra in filter(None, (extras.group(1) or "").split(",")):
                assert f"\n{extra} = [" in (REPO / "pyproject.toml").read_text(), extra
    elif program == "python":
        assert args[0] == "-m", command
        spec = importlib.util.find_spec(args[1])
        assert spec is not None and spec.origin, args[1]
        source = Path(spec.origin).read_text(encoding="utf-8")
        for option in (a for a in args[2:] if a.startswith("--")):
            assert f'"{option}"' in source, f"{args[1]} takes no {option}"
    elif program == "diffaudit":
        _check_diffaudit(args)
    else:
        pytest.fail(f"{command!r}: a command of a program the README does not install")


@pytest.mark.parametrize("command", BLOCKS + PROSE)
def test_a_readme_command_names_what_exists(command):
    program, _ = _words(command)
    if command in PROSE:
        assert command.startswith(FRESH_SHELL) or program in ACTIVATED, command
    _check(command)


# Commands that need no run directory, no model and no more than a second: run as written.
QUICK = ("configs", "--version", "suites")


@pytest.mark.parametrize(
    "command", [c for c in BLOCKS + PROSE if _words(c)[0] == "diffaudit" and _words(c)[1][0] in QUICK]
)
def test_a_quick_readme_command_runs(command):
    _, args = _words(command)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()


def test_the_readme_says_how_to_activate_the_venv_and_what_the_demo_installs():
    assert ". .venv/bin/activate" in README
    assert re.search(r"The `\.venv` comes to [\d.]+ GB", README)
    assert re.search(r"From a fresh clone to the\s+verdict it took \d+ s", README)
    assert "root or `sudo`" in README
