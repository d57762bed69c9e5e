"""findings.json as the gate's answer, when it is current: a CI gate on a finished run reads one small file.

findings.json is current for a policy when it was written under that policy
(same built-in name, or same file) after everything its findings depend on:
run.yaml, probes.parquet, generations.jsonl, scores.parquet (with no score
parts waiting to be merged), validation.json where the run has one, the policy file, and diffaudit's own analysis
code (audit/findings, audit/stats). Anything newer, missing or unreadable
means it is not, and the gate evaluates the policy afresh. Nothing here
imports pandas, scipy or torch.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from importlib import resources
from pathlib import Path

import yaml

from audit.core.records import Finding
from audit.core.run_store import FINDINGS, GENERATIONS, PARTS, PROBES, RUN_INFO, SCORES, VALIDATION

_INPUTS = (RUN_INFO, PROBES, GENERATIONS, SCORES)
_CODE = ("audit.findings", "audit.stats")


@dataclasses.dataclass(frozen=True)
class SavedFindings:
    """The findings of a policy as ``diffaudit analyze`` (or ``run``) saved them, with its verdict."""

    policy: str
    source: str
    findings: list[Finding]
    checks: list[dict]
    verdict: str
    counts: dict


def saved_findings(run_dir: Path, policy: str | None = None) -> SavedFindings | None:
    """The run's findings.json if it is current for ``policy`` (None: the run's own), else None."""
    path = Path(run_dir) / FINDINGS
    try:
        written = path.stat().st_mtime_ns
        if policy is None:
            policy = (yaml.safe_load((Path(run_dir) / RUN_INFO).read_text()).get("config") or {}).get("policy")
        source, policy_file = _policy_source(policy or "default")
        if policy_file is None or any(p.stat().st_mtime_ns > written for p in _dependencies(Path(run_dir))):
            return None
        if policy_file.stat().st_mtime_ns > written:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("policy_source") != source:
            return None
        if data.get("verdict") not in ("pass", "fail", "not_judged"):
            return None  # written before verdicts were saved: evaluate afresh
        findings = [Finding.from_dict(f) for f in data["findings"]]
        return SavedFindings(data["policy"], source, findings, data["checks"], data["verdict"], data["counts"])
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError, yaml.YAMLError):
        return None  # evaluated afresh, where a file that cannot be read is named


def _policy_source(policy: str) -> tuple[str, Path | None]:
    """What findings.json records as the source of ``policy``, and the file it is read from."""
    builtin = resources.files("audit.findings") / "policies" / f"{policy}.yaml"
    if "/" not in policy and builtin.is_file():
        return f"built-in policy {policy}.yaml", Path(str(builtin))
    path = Path(policy)
    return str(path), path if path.is_file() else None


def _dependencies(root: Path) -> list[Path]:
    if any((root / PARTS / SCORES.removesuffix(".parquet")).glob("*.parquet")):
        raise ValueError("scores not merged yet")  # a scoring stage is running or was killed
    # find_spec locates a package without importing it (importing audit.stats would load scipy).
    code = [Path(next(iter(importlib.util.find_spec(package).submodule_search_locations))) for package in _CODE]
    optional = [root / VALIDATION] if (root / VALIDATION).exists() else []
    return [root / name for name in _INPUTS] + optional + [f for folder in code for f in folder.rglob("*.py")]
