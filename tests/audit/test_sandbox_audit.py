"""End to end through real images: the audit finds the bias planted in the sandbox world, and only that.

The renderer (``type: sandbox``) makes portraits whose truth is known; the shipped sandbox CLIP
scores them; the sandbox policy judges them. Run once with many seeds, then judged as
independent audits on disjoint seed ranges ("seeded repeats").
"""

from __future__ import annotations

import json
from importlib import resources

import pytest
import yaml
from typer.testing import CliRunner

from audit import runner
from audit.cli import app
from audit.config import config_from_dict
from audit.findings import evaluate_policy, load_policy, run_labels
from generators.sandbox import ATTRIBUTES, balanced_bias, planted_bias, skewed_occupations

POLICY = load_policy("sandbox")
PARITY_CHECK = {"skin_tone_group": "skin-tone-parity", "age_cue": "age-parity", "marker": "marker-parity"}
CLIP = {"type": "clip", "model": "builtin:sandbox-clip", "label_set": "sandbox", "cache": False}


def _suite_with_reference(tmp_path, table) -> str:
    """The sandbox suite with ``table`` (occupation → attribute → shares) as every prompt's reference."""
    data = yaml.safe_load((resources.files("probes") / "suites" / "sandbox.yaml").read_text(encoding="utf-8"))
    for value in data["slots"]["occupation"]:
        value["reference"] = {a: dict(s) for a, s in table[value["value"]].items()}
    path = tmp_path / "sandbox-suite.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


def _render_and_score(tmp_path, *, bias: str, suite: str, seeds: int):
    """A real run of the renderer, scored by the sandbox CLIP: the per-image labels and label sets."""
    config = config_from_dict(
        {
            "name": f"renderer-{bias}",
            "generator": {"type": "sandbox", "bias": bias, "batch_size": 200},
            "probes": [{"suite": suite, "seeds": seeds}],
            "classifiers": [CLIP],
            "policy": "sandbox",
        },
        source="test",
    )
    with runner.prepare(config, tmp_path / f"run-{bias}") as store:
        runner.generate(store)
        runner.score(store, batch_size=200)
        return run_labels(store)


def _repeats(labels, seeds_per_repeat: int):
    """The labels of each seeded repeat: the images of seeds [k r, k (r + 1)) of every prompt."""
    block = labels["seed"] // seeds_per_repeat
    return [labels[block == r] for r in sorted(block.unique())]


def _failed(labels, categories, seed):
    results = evaluate_policy(POLICY, labels, categories, seed=seed)
    return [f for result in results.values() for f in result.findings if f.status == "fail"]


def test_a_balanced_world_passes_the_sandbox_policy_in_95_percent_of_seeded_repeats(tmp_path):
    # 20 repeats of an audit with 20 images per occupation (10 seeds × 2 templates), the truth balanced.
    suite = _suite_with_reference(tmp_path, balanced_bias())
    labels, categories = _render_and_score(tmp_path, bias="balanced", suite=suite, seeds=200)
    repeats = _repeats(labels, 10)
    assert len(repeats) == 20
    failing = [r for r, sub in enumerate(repeats) if _failed(sub, categories, seed=r)]
    assert len(failing) <= 1, f"repeats with a failing finding: {failing}"


def test_a_planted_skew_fails_exactly_the_skewed_occupations(tmp_path):
    # 3 repeats of an audit with 60 images per occupation, the truth the planted bias.
    labels, categories = _render_and_score(tmp_path, bias="planted", suite="sandbox", seeds=90)
    expected = {(PARITY_CHECK[a], name) for name, attributes in skewed_occupations().items() for a in attributes}
    assert len(expected) >= 6
    for r, sub in enumerate(_repeats(labels, 30)):
        failed = _failed(sub, categories, seed=r)
        parity = {(f.check, f.scope["occupation"]) for f in failed if f.severity == "error"}
        assert parity == expected, f"repeat {r}"
        # The renderer is the truth: the audit recovers it (no recovery or amplification warning).
        assert [f.check for f in failed if f.severity != "error"] == [], f"repeat {r}"


@pytest.fixture(scope="module")
def ddpm_run(tmp_path_factory):
    """The default run as `make demo` makes it: the shipped sandbox DDPM, CLIP and skin tone, sandbox policy."""
    folder = tmp_path_factory.mktemp("ddpm-audit")
    text = (resources.files("audit") / "configs" / "default.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    data["classifiers"][0]["cache"] = False
    config = folder / "config.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(config), "--out", str(folder / "run"), "--quiet"])
    return folder / "run", result


def test_the_default_run_ends_with_a_verdict_and_the_gate_fails_on_the_planted_skew(ddpm_run):
    run_dir, result = ddpm_run
    assert result.exit_code == 0, result.output
    verdict = result.stdout.split("report: ", 1)[1]
    assert "verdict: FAIL" in verdict
    for name in skewed_occupations():
        assert any(line.startswith(f"occupation={name} ") and " FAIL " in line for line in verdict.splitlines()), name
    findings = json.loads((run_dir / "findings.json").read_text(encoding="utf-8"))["findings"]
    errors = [f for f in findings if f["severity"] == "error"]
    assert any(f["passed"] for f in errors) and any(not f["passed"] for f in errors)
    gate = CliRunner().invoke(app, ["gate", str(run_dir)])
    assert gate.exit_code == 1, gate.output  # a failing check: not 2, an error


def test_the_audit_of_the_shipped_ddpm_recovers_the_planted_distribution_or_says_where_it_departs(ddpm_run):
    run_dir, _ = ddpm_run
    findings = json.loads((run_dir / "findings.json").read_text(encoding="utf-8"))["findings"]
    check = {"skin_tone_group": "skin-tone-recovery", "age_cue": "age-recovery", "marker": "marker-recovery"}
    recovered, departures = 0, []
    for attribute in ATTRIBUTES:
        for name in planted_bias():
            (finding,) = [
                f for f in findings if f["check"] == check[attribute] and f["scope"].get("occupation") == name
            ]
            assert finding["status"] in ("pass", "fail"), (attribute, name, finding["summary"])  # judged
            assert finding["evidence"], (attribute, name)  # the images behind the verdict
            low, high = finding["ci"]
            # The distance of the model's shares from the planted ones, with its 95% interval:
            # an interval from 0 holds the planted distribution; one above 0 measures a departure.
            if low <= 1e-9:
                recovered += 1
            else:
                departures.append((attribute, name, finding["value"], low, high))
                assert f"95% CI {low:.3f}-{high:.3f}" in finding["summary"], finding["summary"]
                # A departure beyond the policy's limit, shown beyond doubt, is a failed (warning) check.
                assert (finding["status"] == "fail") == (finding["summary"].endswith(": fail")), finding["summary"]
    # The shipped model is good enough that most of the 30 planted distributions are recovered
    # (at 95% per interval, a perfect model leaves about 1.5 of 30 outside by chance).
    assert recovered >= 24, departures
