"""No traceback on any input: hostile config, suite, policy, prompt and run-directory files.

Property-based (Hypothesis): random bytes, truncations, inserted bytes, other encodings, and valid files with a
value of the wrong type or a key removed. The parsers are driven in this process over thousands of cases; the
real CLI over fewer. Every case either works or ends in diffaudit's own one-line error: no traceback, no exit
other than 0, 1 or 2, and never the line of an error diffaudit has no message for.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from audit.cli import UNEXPECTED, app
from audit.core.errors import DiffauditError
from tests.audit.findings.run_builder import build_run, item, labels_of

# Fixed examples (derandomize) keep CI reproducible; no database is written into the checkout. About 2,100 cases
# in all (about 12 s), within the suite's time budget; DIFFAUDIT_FUZZ_SCALE=10 runs ten times as many.
SCALE = float(os.environ.get("DIFFAUDIT_FUZZ_SCALE", "1"))


def examples(n: int) -> int:
    return max(1, round(n * SCALE))


IN_PROCESS = settings(
    max_examples=examples(400),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
CLI = settings(IN_PROCESS, max_examples=examples(12))

DEFAULT_CONFIG = (resources.files("audit") / "configs" / "default.yaml").read_bytes()
SANDBOX_SUITE = (resources.files("probes") / "suites" / "sandbox.yaml").read_bytes()
SANDBOX_POLICY = (resources.files("audit.findings") / "policies" / "sandbox.yaml").read_bytes()
PROMPTS = "a photo of a nurse\na photo of a judge, smiling\n\nein Foto einer Ärztin\n".encode()

# A value of any plain type, for a key of a valid file.
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(tree, prefix=()):
    """Every key path of a nested mapping/list."""
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _paths(value, (*prefix, i))


def _replaced(tree, path, value, delete=False):
    if not path:
        return value
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    key = path[0]
    if len(path) == 1 and delete and isinstance(copy, dict):
        del copy[key]
    else:
        copy[key] = _replaced(copy[key], path[1:], value, delete)
    return copy


def mistyped(valid: bytes, dump) -> st.SearchStrategy[bytes]:
    """A valid YAML/JSON file with one value replaced by another of any type, or one key removed."""
    tree = yaml.safe_load(valid)
    paths = list(_paths(tree))
    return st.builds(
        lambda path, value, delete: dump(_replaced(tree, path, value, delete)).encode(),
        st.sampled_from(paths),
        VALUES,
        st.booleans(),
    )


def hostile(valid: bytes, dump=None) -> st.SearchStrategy[bytes]:
    """Bytes a user might hand over instead of ``valid``: broken, cut short, re-encoded, mistyped, empty."""
    text = valid.decode("utf-8")
    options = [
        st.binary(max_size=600),
        st.integers(0, len(valid)).map(lambda n: valid[:n]),
        st.tuples(st.integers(0, len(valid)), st.binary(min_size=1, max_size=6)).map(
            lambda t: valid[: t[0]] + t[1] + valid[t[0] :]
        ),
        st.sampled_from(["latin-1", "utf-16", "utf-16-be", "utf-32", "cp1252", "utf-8-sig"]).map(
            lambda encoding: (text + "# é ü ß\n").encode(encoding, errors="replace")
        ),
        st.just(b""),
        st.just(b"\x00" * 64),
    ]
    if dump is not None:
        options.append(mistyped(valid, dump))
    return st.one_of(options)


def _yaml(tree) -> str:
    return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)


def _json(tree) -> str:
    return json.dumps(tree, default=str)


def _ok_or_our_error(call, *args, **kwargs):
    """Run a parser: it returns, or raises diffaudit's own one-line error."""
    try:
        call(*args, **kwargs)
    except DiffauditError as exc:
        message = str(exc)
        assert message and "\n" not in message, repr(message)
        assert "internal error" not in message, message


@given(data=hostile(DEFAULT_CONFIG, _yaml))
@IN_PROCESS
def test_config_files(tmp_path, data):
    from audit.config import load_config
    from audit.runner import expand_probes

    path = tmp_path / "config.yaml"
    path.write_bytes(data)

    def load_and_expand(p):
        expand_probes(load_config(p))

    _ok_or_our_error(load_and_expand, path)


@given(data=hostile(SANDBOX_SUITE, _yaml))
@IN_PROCESS
def test_suite_files(tmp_path, data):
    from probes import load_suite

    path = tmp_path / "suite.yaml"
    path.write_bytes(data)
    _ok_or_our_error(lambda p: load_suite(p).expand(), path)


@given(data=hostile(SANDBOX_POLICY, _yaml))
@IN_PROCESS
def test_policy_files(tmp_path, data):
    from audit.findings import load_policy

    path = tmp_path / "policy.yaml"
    path.write_bytes(data)
    _ok_or_our_error(load_policy, path)


@given(data=hostile(PROMPTS))
@IN_PROCESS
def test_prompt_files(tmp_path, data):
    from audit.commands.screen import screen_command

    path = tmp_path / "prompts.txt"
    path.write_bytes(data)
    _ok_or_our_error(screen_command, file=path)


# -- run directories ----------------------------------------------------------------------------------------------

GENDER = "perceived_gender_presentation"


@pytest.fixture(scope="module")
def pristine_run(tmp_path_factory) -> Path:
    """A finished run (scores, tables, findings, report files) whose files the tests break one at a time."""
    root = tmp_path_factory.mktemp("hostile") / "run"
    planted = [
        (item(f"a photo of person {i}", attributes={"occupation": f"job{i}"}), {GENDER: labels_of(counts)})
        for i, counts in enumerate([{"feminine": 12, "masculine": 8}, {"feminine": 19, "masculine": 1}])
    ]
    build_run(root, planted)
    from audit.core.run_store import RunStore
    from audit.runner import record_validation

    with RunStore.open(root) as store:  # validation.json as scoring writes it (no validation attached)
        record_validation(store, SimpleNamespace(classifiers=[]))
    for verb in ("analyze", "report"):
        done = CliRunner().invoke(app, [verb, str(root), "-q"])
        assert done.exit_code == 0, done.output
    return root


def _run_files(root: Path) -> list[str]:
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and p.suffix != ".png"
    )


@pytest.fixture
def work_run(pristine_run, tmp_path) -> Path:
    return tmp_path / "run"


def _fresh_copy(pristine: Path, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(pristine, target)
    return target


def _read_everything(root: Path) -> None:
    """What the verbs read of a run directory, through the readers they use."""
    from audit.commands.saved_findings import saved_findings
    from audit.commands.verdict import verdict_lines
    from audit.core.run_store import RunStore
    from audit.runner import load_run_config

    with RunStore.open(root, lock=False) as store:
        load_run_config(store)
        store.probes()
        store.generations()
        store.validation_summaries()
        for name in ("scores.parquet",):
            store.read_table(name)
        verdict_lines(store)
    saved_findings(root)


@st.composite
def broken_run_file(draw, root: Path):
    """A file of the run and hostile bytes for it (the file's own, broken)."""
    name = draw(st.sampled_from(_run_files(root)))
    valid = (root / name).read_bytes()
    dump = {".json": _json, ".yaml": _yaml}.get(Path(name).suffix)
    if valid and dump is not None:
        try:
            valid.decode("utf-8")
        except UnicodeDecodeError:
            dump = None
    if dump is None or not valid:
        strategy = st.one_of(
            st.binary(max_size=400),
            st.integers(0, len(valid)).map(lambda n: valid[:n]),
            st.just(b""),
        )
    else:
        strategy = hostile(valid, dump)
    return name, draw(strategy)


def test_run_directory_files(pristine_run, work_run):
    root = _fresh_copy(pristine_run, work_run)

    @given(case=broken_run_file(pristine_run))
    @settings(IN_PROCESS, max_examples=examples(400))
    def check(case):
        name, data = case
        (root / name).write_bytes(data)
        try:
            _ok_or_our_error(_read_everything, root)  # reads only: nothing else of the run changes
        finally:
            (root / name).write_bytes((pristine_run / name).read_bytes())

    check()


# -- the real command line ----------------------------------------------------------------------------------------


def _invoke(args: list[str]):
    result = CliRunner().invoke(app, args)
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception, output)
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, output)
    assert "Traceback" not in output, (args, output)
    assert UNEXPECTED not in output and "internal error" not in output, (args, output)
    if result.exit_code == 2:
        # One line of error, or the gate's own answer that the run could not be judged.
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 or (not errors and "gate: NOT JUDGED" in result.stdout), (args, result.output)
    return result


def test_verbs_on_broken_run_files(pristine_run, work_run):
    @given(case=broken_run_file(pristine_run), verb=st.sampled_from(["report", "gate", "analyze"]))
    @CLI
    def check(case, verb):
        name, data = case
        root = _fresh_copy(pristine_run, work_run)
        (root / name).write_bytes(data)
        _invoke([verb, str(root), "-q"])

    check()


@given(data=hostile(SANDBOX_SUITE, _yaml))
@CLI
def test_suites_show_on_hostile_files(tmp_path, data):
    path = tmp_path / "suite.yaml"
    path.write_bytes(data)
    _invoke(["suites", "show", str(path)])


@given(data=hostile(PROMPTS))
@CLI
def test_screen_on_hostile_prompt_files(tmp_path, data):
    path = tmp_path / "prompts.txt"
    path.write_bytes(data)
    _invoke(["screen", "--file", str(path)])


@given(data=hostile(SANDBOX_POLICY, _yaml))
@CLI
def test_gate_with_hostile_policy_files(pristine_run, tmp_path, data):
    path = tmp_path / "policy.yaml"
    path.write_bytes(data)
    _invoke(["gate", str(pristine_run), "--policy", str(path), "-q"])


@given(data=hostile(DEFAULT_CONFIG, _yaml))
@CLI
def test_run_on_hostile_configs_that_do_not_load(tmp_path, data):
    from hypothesis import assume

    from audit.config import load_config
    from audit.runner import expand_probes

    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    try:
        expand_probes(load_config(path))
        loads = True
    except DiffauditError:
        loads = False
    assume(not loads)  # a config that loads would start a real run
    result = _invoke(["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2
    assert not (tmp_path / "out").exists()


def test_huge_inputs_end_in_a_verdict_or_one_line(tmp_path):
    # A seed count no audit needs would fill the memory with its seed list: refused, naming the key.
    config = tmp_path / "seeds.yaml"
    config.write_text(DEFAULT_CONFIG.decode().replace("seeds: 20 ", "seeds: 1000000000000 "), encoding="utf-8")
    result = _invoke(["run", str(config), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and "probes[0].seeds" in result.stderr and "at most 1,000,000" in result.stderr
    # Megabytes of binary noise where a config should be.
    noise = tmp_path / "noise.yaml"
    noise.write_bytes(os.urandom(4_000_000))
    result = _invoke(["run", str(noise), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and str(noise) in result.stderr
    # A prompt file of one 200 kB line and 5,000 short ones is screened, line by line.
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a photo of a nurse " * 10_000 + "\n" + "a photo of a judge\n" * 5_000, encoding="utf-8")
    result = _invoke(["screen", "--file", str(prompts)])
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 5_001
