"""Sequential runs of the sandbox renderer for the tests: a config, and what a run made and decided."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import yaml

from audit.core.run_store import RunStore

SEEDS = 160
ROUND = 16
# Parity checks at 0.2 TV: the planted skews (0.35-0.47 TV) are shown beyond in a round or two, and the balanced
# occupations stop within the limit (a futility stop) well before the budget of 160 seeds (160 images an occupation).
POLICY = {
    "name": "sequential-test",
    "checks": [
        {"id": f"{name}-parity", "check": "deviation", "attribute": attribute, "by": ["occupation"], "max": 0.2}
        for name, attribute in (("skin-tone", "skin_tone_group"), ("age", "age_cue"), ("marker", "marker"))
    ]
    + [
        {
            "id": "marker-recovery",
            "check": "deviation",
            "attribute": "marker",
            "by": ["occupation"],
            "reference": {"probe": "marker"},
            "max": 0.1,
            "severity": "warning",
        }
    ],
}


OCCUPATIONS = ("doctor", "nurse", "judge", "barista")  # two balanced, two skewed (marker; skin tone and age)


def write_config(folder: Path, *, mode: str = "sequential", name: str = "sequential", seeds: int = SEEDS) -> Path:
    """A sandbox-renderer audit config (with its policy, and the sandbox suite cut to four occupations in one
    template) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    policy = folder / "policy.yaml"
    policy.write_text(yaml.safe_dump(POLICY), encoding="utf-8")
    suite = yaml.safe_load((resources.files("probes") / "suites" / "sandbox.yaml").read_text(encoding="utf-8"))
    suite["name"] = "sandbox-four"
    suite["templates"] = suite["templates"][:1]
    suite["slots"]["occupation"] = [v for v in suite["slots"]["occupation"] if v["value"] in OCCUPATIONS]
    suite_path = folder / "suite.yaml"
    suite_path.write_text(yaml.safe_dump(suite), encoding="utf-8")
    config = {
        "name": name,
        "generator": {"type": "sandbox", "bias": "planted", "batch_size": 64},
        "probes": [{"suite": str(suite_path), "seeds": seeds}],
        "classifiers": [{"type": "clip", "model": "builtin:sandbox-clip", "label_set": "sandbox", "cache": False}],
        "policy": str(policy),
        "sampling": {"mode": mode, "round": ROUND},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def made(root: Path) -> dict[tuple[str, int], str]:
    """Every image a run made: (prompt, seed) -> sha256."""
    with RunStore.open(root, lock=False) as store:
        return {(r.item_id, r.seed): r.sha256 for r in store.generations() if r.ok}


def decisions(root: Path) -> dict[tuple[str, str], tuple]:
    """Every finding of a run: (check, scope) -> (status, value, images used, stop)."""
    findings = json.loads((root / "findings.json").read_text(encoding="utf-8"))
    out = {}
    for f in findings["findings"]:
        out[(f["check"], json.dumps(f["scope"], sort_keys=True))] = (
            f["status"],
            f["value"],
            f["n_judged"],
            f["summary"],
        )
    return out
