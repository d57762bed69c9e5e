"""The layers of docs/architecture.md, read from the imports: every arrow points down, and no package needs another's import order.

Each module's imports (at the top and inside functions alike) are read
with ``ast`` and checked against the rules below; a module that imports
what its layer may not fails with the offending line.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PROJECT = ("audit", "generators", "probes", "reports")

# Layer -> the layers it may import (besides itself and third-party code). Longest prefix wins.
RULES: dict[str, set[str]] = {
    "audit.core": set(),
    "generators.ddpm": set(),
    "probes": {"audit.core"},
    "generators": {"audit.core", "generators.ddpm"},
    "audit.classifiers": {"audit.core"},
    "audit.stats": {"audit.core"},
    "audit.findings": {"audit.core", "audit.stats"},
    "reports": {"audit.core"},
    # The package's own __init__ exposes the bottom layer only.
    "audit": {"audit.core"},
}
# The modules that tie the layers together may import anything.
TOP = ("audit.config", "audit.runner", "audit.cli", "audit.__main__", "audit.commands", "audit.executors")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str | None:
    """The most specific layer a module belongs to (``generators.ddpm`` before ``generators``)."""
    matches = [name for name in RULES if module == name or module.startswith(name + ".")]
    return max(matches, key=len) if matches else None


def _imports(path: Path) -> list[tuple[int, str]]:
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            found.append((node.lineno, name))
            # `from audit import runner` imports the submodule audit.runner: judge that name too
            # (for `from audit.core import UNKNOWN` the extra name stays inside the same layer).
            found += [(node.lineno, f"{name}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in PROJECT]


def _project_modules() -> list[Path]:
    return sorted(p for package in PROJECT for p in (REPO / package).rglob("*.py"))


def _allowed(importer: str, imported: str) -> bool:
    """Whether module ``importer`` may import module ``imported`` under the rules."""
    if importer.startswith(TOP):
        return True
    if imported.startswith(TOP):
        return False
    layer, target = _layer(importer), _layer(imported)
    assert layer is not None, f"{importer} belongs to no layer of the rules"
    return target == layer or target in RULES[layer]


def test_every_import_points_down_the_layers():
    offenders = []
    modules = _project_modules()
    for path in modules:
        importer = _module_name(path)
        for line, imported in _imports(path):
            if not _allowed(importer, imported):
                offenders.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    assert offenders == []
    assert len(modules) > 80  # the walk saw the whole project


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("audit.core.run_store", "probes.suite", False),
        ("audit.core.run_store", "audit.stats", False),
        ("generators.ddpm.unet", "audit.core.errors", False),
        ("generators.base", "audit.core.records", True),
        ("generators.base", "generators.ddpm.sampling", True),
        ("generators.base", "audit.classifiers", False),
        ("probes.suite", "generators", False),
        ("audit.classifiers.scoring", "audit.stats", False),
        ("audit.stats.deviation", "audit.findings.policy", False),
        ("audit.findings.evaluate", "audit.stats", True),
        ("audit.findings.evaluate", "probes", False),
        ("reports.digest", "audit.findings", False),
        ("reports.digest", "audit.core.run_store", True),
        ("audit", "audit.config", False),
        ("audit", "audit.classifiers", False),
        ("audit", "audit.core", True),
        ("audit.runner", "reports", True),
    ],
)
def test_the_rules_refuse_an_upward_arrow(importer, imported, allowed):
    """The checker itself: arrows the rules forbid are caught, allowed ones pass."""
    assert _allowed(importer, imported) is allowed


@pytest.mark.parametrize("package", ["audit.core", "probes", "generators", "reports", "audit.stats", "audit.findings"])
def test_each_layer_imports_first_in_a_fresh_interpreter(package):
    """No import cycle hides behind audit/__init__.py's order: any package can be the first import."""
    result = subprocess.run([sys.executable, "-c", f"import {package}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_bottom_layer_and_light_stages_import_no_torch():
    """audit.core, audit.stats, audit.findings and reports answer without loading torch."""
    code = "import sys, audit.core, audit.stats, audit.findings, reports, probes;print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- names and circles between files ---------------------------------------------------------------------------

SHAPED = (*PROJECT, "benchmarks")  # every package whose files import each other (tests excluded)


def _all_modules() -> dict[str, Path]:
    return {_module_name(p): p for package in SHAPED for p in sorted((REPO / package).rglob("*.py"))}


def _file_of(name: str, modules: dict[str, Path]) -> str | None:
    """The module file an imported name lives in (``audit.stats.p_beyond`` -> ``audit.stats``)."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in modules else None


def _edges(modules: dict[str, Path]) -> tuple[dict[str, set[str]], list[str]]:
    """Each module's imported module files (imports anywhere in the file), and every underscore name imported from
    another module, as 'importer:line imports _name from module'."""
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [(_file_of(alias.name, modules), None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                targets = [(_file_of(f"{source}.{alias.name}", modules), alias.name) for alias in node.names]
            else:
                continue
            for target, name in targets:
                if target is None or target == module:
                    continue
                edges[module].add(target)
                if name and name.startswith("_") and not name.startswith("__"):
                    private.append(f"{module}:{node.lineno} imports {name} from {target}")
    return edges, private


def _circles(edges: dict[str, set[str]], modules: dict[str, Path]) -> list[list[str]]:
    """Strongly connected groups of more than one file; a package's __init__ re-exporting its own children is no
    circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if modules[w].name == "__init__.py" and v.startswith(w + "."):
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in modules:
        if v not in index:
            visit(v)
    return found


def test_no_underscore_name_is_imported_across_modules():
    """What two modules share has a public name (the findings checks share audit.findings.judgement)."""
    modules = _all_modules()
    _, private = _edges(modules)
    assert private == []
    assert len(modules) > 100  # the walk saw the whole project


def test_no_circle_of_imports_between_files():
    """Not even through an import inside a function: a circle of files is one concept split in two."""
    modules = _all_modules()
    edges, _ = _edges(modules)
    assert _circles(edges, modules) == []


def test_the_shape_checks_catch_a_private_import_and_a_circle(tmp_path):
    """The two checks above on a constructed pair of modules that import each other's private names."""
    (tmp_path / "a.py").write_text("from b import _helper\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("def f():\n    from a import _other\n", encoding="utf-8")
    modules = {"a": tmp_path / "a.py", "b": tmp_path / "b.py"}
    edges, private = _edges(modules)
    assert private == ["a:1 imports _helper from b", "b:2 imports _other from a"]
    assert _circles(edges, modules) == [["a", "b"]]


# --- check types: only audit/findings/checks/ names them ----------------------------------------------------------

CHECK_TYPE_NAMES = {"deviation", "rate", "risk_ratio", "amplification", "sexualised_minors"}
CHECK_CLASSES = {"DeviationCheck", "RateCheck", "RiskRatioCheck", "AmplificationCheck", "SexualisedMinorsCheck"}
# Modules outside audit/findings/checks/ that may still branch on the check type, with how many branches (none now:
# reports/ renders each check's own section from findings.json without knowing its type).
STILL_BRANCHING: dict[str, int] = {}
# The statistics layer's names that are spelled like a check type but are not one (the "rate" metric of a stream).
NOT_CHECK_TYPES = ("audit/stats/",)


def _names_in(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


def _is_check_field(node: ast.AST) -> bool:
    """``x.check``, ``x["check"]`` or ``x.get("check")``: where a check's type is read."""
    if isinstance(node, ast.Attribute):
        return node.attr == "check"
    if isinstance(node, ast.Subscript):
        return isinstance(node.slice, ast.Constant) and node.slice.value == "check"
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "check"
    )


def _check_type_branches(tree: ast.AST) -> int:
    """isinstance tests against a check's policy class, and comparisons with a check type's name: of a check's type
    field (``check.check``, ``entry["check"]``, ``kind``) or of anything else (``finding_kind(f) == "deviation"``)
    where the name is itself an operand (a name used as a key, ``a["rate"] is None``, is no branch)."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance":
            count += len(node.args) == 2 and bool(_names_in(node.args[1]) & CHECK_CLASSES)
        elif isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            named = any(isinstance(n, ast.Constant) and n.value in CHECK_TYPE_NAMES for p in parts for n in ast.walk(p))
            operand = any(_is_type_name(p) for p in parts)
            count += operand or (
                named and any(_is_check_field(p) or (isinstance(p, ast.Name) and p.id == "kind") for p in parts)
            )
    return count


def _is_type_name(node: ast.AST) -> bool:
    """A check type's name as an operand: the constant itself, or a tuple/list/set of constants holding one."""
    if isinstance(node, ast.Constant):
        return node.value in CHECK_TYPE_NAMES
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(isinstance(e, ast.Constant) and e.value in CHECK_TYPE_NAMES for e in node.elts)
    return False


def test_no_module_outside_the_check_modules_branches_on_a_check_type_beyond_the_known_ones():
    found = {}
    for path in _project_modules():
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith(("audit/findings/checks/", *NOT_CHECK_TYPES)):
            continue
        branches = _check_type_branches(ast.parse(path.read_text(encoding="utf-8")))
        if branches:
            found[rel] = branches
    grown = {f: n for f, n in found.items() if n > STILL_BRANCHING.get(f, 0)}
    assert grown == {}, "a check type is named outside audit/findings/checks/: add it to its check module"


def test_the_branch_reader_sees_an_isinstance_and_a_type_comparison():
    code = "if isinstance(c, RateCheck): pass\nif check.check == 'amplification': pass\nif c['check'] != 'x': pass\n"
    assert _check_type_branches(ast.parse(code)) == 2
    # a comparison of any value with a type's name is a branch; a type's name used as a key is not
    assert _check_type_branches(ast.parse("x = finding_kind(f, kinds) == 'deviation'")) == 1
    assert _check_type_branches(ast.parse("x = kind in ('rate', 'risk_ratio')")) == 1
    assert _check_type_branches(ast.parse("x = a['abstention']['rate'] is not None")) == 0
