"""generators/ddpm stands on its own: no module in it imports audit or probes."""

from __future__ import annotations

import ast
from pathlib import Path

import generators.ddpm


def test_ddpm_package_imports_nothing_from_audit_or_probes():
    offenders = []
    for path in Path(generators.ddpm.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("audit", "probes")]
    assert offenders == []
    assert len(list(Path(generators.ddpm.__file__).parent.glob("*.py"))) > 10  # the walk saw the package
