"""A new user's first commands: the version, the built-in configs, a mistyped name, a rerun after a failed
start, no hub traffic for a run that needs nothing from the hub, and library log lines only with --verbose."""

from __future__ import annotations

import logging
import socket
import threading
from importlib import metadata

import pytest
from typer.testing import CliRunner

from audit.builtin_configs import builtin_configs
from audit.cli import app

runner = CliRunner()


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"diffaudit {metadata.version('diffaudit')}"


def test_configs_lists_every_built_in_config_with_a_line_each():
    result = runner.invoke(app, ["configs"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0].split(" ")[0] for line in lines] == builtin_configs()
    default = next(line for line in lines if line.startswith("default"))
    assert "ddpm:builtin:sandbox-ddpm" in default and "400 images" in default and "policy sandbox" in default
    assert "sequential, at most 4,000 images" in next(line for line in lines if line.startswith("sandbox-sequential"))


def test_run_help_and_a_mistyped_config_name_list_the_built_in_configs(tmp_path):
    help_text = " ".join(runner.invoke(app, ["run", "--help"]).output.split())
    mistyped = runner.invoke(app, ["run", "sandbox-high-guidence", "--out", str(tmp_path / "out")])
    assert mistyped.exit_code == 2
    assert len(mistyped.stderr.splitlines()) == 1
    for name in builtin_configs():
        assert name in help_text.replace("│", "").replace(" ", ""), name
        assert name in mistyped.stderr
    assert "sandbox-high-guidence: file not found, nor a built-in config" in mistyped.stderr
    assert not (tmp_path / "out").exists()


def test_a_run_that_fails_before_its_first_image_does_not_block_the_rerun(write_config, tmp_path):
    out = tmp_path / "run"
    broken = write_config(
        "name: t\ngenerator: {type: ddpm, model: ./no-such-checkpoint}\nprobes: [{suite: sandbox, seeds: 1}]\n"
        "policy: sandbox\n",
        "broken.yaml",
    )
    failed = runner.invoke(app, ["run", str(broken), "--out", str(out), "-q"])
    assert failed.exit_code == 2, failed.output
    assert not (out / "run.yaml").exists() and not (out / "probes.parquet").exists()
    # The corrected config runs in the same directory, without --resume or deleting anything.
    fixed = write_config(
        "name: t\ngenerator: {type: sandbox, bias: planted}\nprobes: [{suite: sandbox, seeds: 1}]\npolicy: sandbox\n",
        "fixed.yaml",
    )
    rerun = runner.invoke(app, ["generate", str(fixed), "--out", str(out), "-q"])
    assert rerun.exit_code == 0, rerun.output
    assert len((out / "generations.jsonl").read_text().splitlines()) == 20


def test_a_run_that_has_made_images_is_kept_when_it_fails(write_config, tmp_path):
    out = tmp_path / "run"
    config = write_config(
        "name: t\ngenerator: {type: sandbox, bias: planted}\nprobes: [{suite: sandbox, seeds: 1}]\n"
        "classifiers: [{type: clip, model: ./no-such-clip}]\npolicy: sandbox\n"
    )
    made = runner.invoke(app, ["generate", str(config), "--out", str(out), "-q"])
    assert made.exit_code == 0, made.output
    again = runner.invoke(app, ["run", str(config), "--out", str(out), "--resume", "-q"])
    assert again.exit_code == 2 and "no-such-clip" in again.stderr
    assert len((out / "generations.jsonl").read_text().splitlines()) == 20


class _Listener:
    """A TCP port on this machine that counts the connections made to it (a stand-in hub endpoint)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


@pytest.fixture
def hub(monkeypatch):
    """The hub online (HF_HUB_OFFLINE unset) at an endpoint that counts connections."""
    listener = _Listener()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", listener.url)
    yield listener
    listener.close()


def test_a_run_with_nothing_from_the_hub_sends_nothing_and_says_nothing_about_it(write_config, tmp_path, hub):
    config = write_config(
        "name: t\ngenerator: {type: sandbox, bias: planted}\nprobes: [{suite: sandbox, seeds: 1}]\n"
        "classifiers: [{type: skin_tone, calibration: swatch}]\npolicy: sandbox\n"
    )
    result = runner.invoke(app, ["run", str(config), "--out", str(tmp_path / "run")])
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.output, result.output
    assert (tmp_path / "run" / "report.html").is_file()
    assert hub.connections == 0
    assert "cannot be reached" not in result.output and "huggingface" not in result.output.lower()


def test_which_configs_take_a_model_from_the_hub(write_config, tmp_path):
    from audit import runner as stages
    from audit.config import load_config

    assert not stages.from_hub(load_config(None))
    assert not stages.from_hub(load_config("sandbox-high-guidance"))
    hub_generator = write_config(
        "name: t\ngenerator: {type: diffusers, model: someone/some-model}\nprobes: [{suite: demo, seeds: 1}]\n",
        "a.yaml",
    )
    hub_clip = write_config(
        "name: t\ngenerator: {type: sandbox}\nprobes: [{suite: sandbox, seeds: 1}]\n"
        "classifiers: [{type: clip, model: ViT-B-32, pretrained: openai}]\n",
        "b.yaml",
    )
    local = tmp_path / "model"
    local.mkdir()
    on_disk = write_config(
        f"name: t\ngenerator: {{type: diffusers, model: {local}}}\nprobes: [{{suite: demo, seeds: 1}}]\n"
        "classifiers: [{type: clip, model: ViT-B-32, pretrained: null}, {type: skin_tone}]\n",
        "c.yaml",
    )
    assert stages.from_hub(load_config(hub_generator))
    assert stages.from_hub(load_config(hub_clip))
    assert not stages.from_hub(load_config(on_disk))


def test_models_that_ship_in_their_package_take_nothing_from_the_hub(write_config):
    """The dcgan-faces audit (a python factory that says so, NudeNet, skin tone, dlib's age and gender networks)
    probes no hub and prints no hub warning; a python factory that does not say is assumed to fetch."""
    from audit import runner as stages
    from audit.config import load_config

    assert not stages.from_hub(load_config("dcgan-faces"))
    unknown = write_config(
        "name: t\ngenerator: {type: python, model: 'generators.tiny_gan:tiny_dcgan'}\n"
        "probes: [{suite: unconditional, seeds: 1}]\nclassifiers: [{type: age}, {type: perceived_gender}]\n",
        "u.yaml",
    )
    assert stages.from_hub(load_config(unknown))


def test_library_log_lines_show_only_with_verbose(capsys):
    for flags, shown in (([], False), (["--verbose"], True)):
        assert runner.invoke(app, ["suites", "list", *flags]).exit_code == 0
        capsys.readouterr()
        # What open_clip does while loading a model: an INFO line on the root logger.
        logging.info("Parsing tokenizer identifier. Schema: None, Identifier: local-dir:...")
        logging.getLogger("audit.runner").info("a line of diffaudit's own")
        err = capsys.readouterr().err
        assert "a line of diffaudit's own" in err
        assert ("Parsing tokenizer identifier" in err) is shown
