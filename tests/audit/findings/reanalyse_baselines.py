"""Re-analyse run directories made before a refactor and say whether any finding moved.

    python -m tests.audit.findings.reanalyse_baselines record runs/baseline-default runs/baseline-...
    python -m tests.audit.findings.reanalyse_baselines check runs/baseline-default runs/baseline-...

``record`` (before the change) writes, beside each run, the comparison of the first run with every other one
(``<run>.compare.json``: ``diffaudit compare``'s output). ``check`` (after it) copies each run to
``runs/reanalysed-<name>``, runs ``diffaudit analyze`` on the copy with the current code, and compares its
findings.json field by field with the run's own, and the comparisons with the recorded ones. Exit 1 and every
difference on a change; exit 0 and "unchanged" otherwise. A key the new code adds (absent from the old file, for
example each check's ``report`` section) is listed as an addition, by its path, and changes nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

from audit.commands.analyze import analyze_command
from audit.commands.compare import compare_command
from tests.audit.findings.findings_golden import differences


def _comparison(baseline: Path, candidate: Path) -> dict:
    """``diffaudit compare baseline candidate`` (paired where the runs are), without the runs' paths."""
    out = candidate.with_name(candidate.name + ".compare.tmp.json")
    compare_command(baseline, candidate, out=out)
    data = json.loads(out.read_text(encoding="utf-8"))
    out.unlink()
    return {k: v for k, v in data.items() if k not in ("baseline", "candidate", "mitigated")}


def record(runs: list[Path]) -> None:
    for candidate in runs[1:]:
        path = candidate.with_name(candidate.name + ".compare.json")
        path.write_text(json.dumps(_comparison(runs[0], candidate), indent=1, sort_keys=True), encoding="utf-8")
        print(f"wrote {path}")


def _split(diffs: list[str]) -> tuple[list[str], list[str]]:
    """(changed fields, added keys): a difference whose old value is absent is an added key."""
    added = [d for d in diffs if ": '<absent>' -> " in d]
    return [d for d in diffs if d not in added], added


def check(runs: list[Path]) -> int:
    changed, additions = [], set()
    for run in runs:
        copy = run.parent / f"reanalysed-{run.name.removeprefix('baseline-')}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(run, copy)
        analyze_command(copy)
        old = json.loads((run / "findings.json").read_text(encoding="utf-8"))
        new = json.loads((copy / "findings.json").read_text(encoding="utf-8"))
        diffs, added = _split(list(differences(old, new)))
        changed += [f"{run.name}/findings.json{d}" for d in diffs]
        additions.update(_added_key(d) for d in added)
        print(
            f"{run.name}: findings.json {'unchanged' if not diffs else f'{len(diffs)} difference(s)'} "
            f"({len(new['findings'])} findings, verdict {new['verdict']})"
        )
    for candidate in runs[1:]:
        path = candidate.with_name(candidate.name + ".compare.json")
        if not path.is_file():
            continue
        old = json.loads(path.read_text(encoding="utf-8"))
        copy = candidate.parent / f"reanalysed-{candidate.name.removeprefix('baseline-')}"
        diffs, added = _split(list(differences(old, _comparison(runs[0], copy))))
        changed += [f"{path.name}{d}" for d in diffs]
        additions.update(_added_key(d) for d in added)
        print(f"compare {runs[0].name} {candidate.name}: {'unchanged' if not diffs else f'{len(diffs)} difference(s)'}")
    for key in sorted(additions):
        print(f"added (not a change): {key}")
    for line in changed[:50]:
        print(line)
    return 1 if changed else 0


def _added_key(diff: str) -> str:
    """The path of an added key with list positions dropped (``.checks[3].report`` -> ``.checks[].report``)."""
    return re.sub(r"\[\d+\]", "[]", diff.split(": '<absent>'")[0])


if __name__ == "__main__":
    action, *paths = sys.argv[1:]
    runs = [Path(p) for p in paths]
    if action == "record":
        record(runs)
    else:
        sys.exit(check(runs))
