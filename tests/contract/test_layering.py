"""The layers of README's "Development" section hold, read from the source with ``ast`` (nothing is imported).

Every import counts, also those inside functions (a lazy import is still a dependency); those under
``if TYPE_CHECKING:`` do not (they never run). A package's ``__init__`` imported only because one of its
submodules is imported is not an edge.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "mpsql"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


@cache
def imports(module: str) -> frozenset[str]:
    """Every module ``module`` imports at run time (mpsql modules resolved to the module, others by name)."""
    path = modules()[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in modules() else base)
    return frozenset(found)


def internal_imports(module: str) -> set[str]:
    return {name for name in imports(module) if name in modules() and name != module}


def cycles() -> list[list[str]]:
    """Every import cycle among mpsql modules (one path per strongly connected group)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(internal_imports(v)):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for m in sorted(modules()):
        if m not in index:
            visit(m)
    return groups


def test_no_import_cycles_among_mpsql_modules():
    assert cycles() == []


def test_the_emulator_imports_only_the_standard_library_and_itself():
    stdlib = sys.stdlib_module_names
    for module in modules():
        if module == "mpsql.emulator" or module.startswith("mpsql.emulator."):
            outside = {name for name in imports(module)
                       if name.split(".")[0] not in stdlib and not name.startswith("mpsql.emulator")
                       and name != "__future__"}
            assert outside == set(), f"{module} imports {sorted(outside)}"


@pytest.mark.parametrize("allowed", [{"mpsql.demo", "mpsql.emulator.__main__"}])
def test_only_the_demo_and_the_emulator_subcommand_import_the_emulator(allowed):
    importers = {m for m in modules() if not m.startswith("mpsql.emulator")
                 and any(n == "mpsql.emulator" or n.startswith("mpsql.emulator.") for n in imports(m))}
    # the CLI reaches the emulator subcommand through its module, mpsql.emulator.__main__
    assert importers <= allowed | {"mpsql.cli.main"}, sorted(importers - allowed)
    assert {n for n in imports("mpsql.cli.main") if n.startswith("mpsql.emulator")} <= {"mpsql.emulator.__main__"}


def test_only_the_hook_module_imports_duckdbs_private_sources():
    users = {m for m in modules() if any(n == "duckdb._sources" or n.startswith("duckdb._sources.")
                                        for n in imports(m))}
    assert users == {"mpsql.functions._duckdb"}


def test_the_cli_and_repl_use_only_public_names_of_the_lower_layers():
    private = {}
    for module in modules():
        if module.startswith(("mpsql.cli", "mpsql.repl")):
            used = {n for n in imports(module) if n.startswith("mpsql.") and not n.startswith(("mpsql.cli",
                                                                                                 "mpsql.repl"))
                    and any(part.startswith("_") and not part.startswith("__") for part in n.split(".")[1:])}
            if used:
                private[module] = sorted(used)
    assert private == {}
