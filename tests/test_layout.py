"""The layout shows the flow: no two of papersift's modules import each other, directly or round
a circle (a package and its own modules aside), so every stage can be read after the ones it uses."""

from __future__ import annotations

import ast
from pathlib import Path

from support.layout import PACKAGE, circles, module_graph, package_graph, render_architecture

ROOT = PACKAGE.parent.parent


def test_no_module_imports_one_that_imports_it_back():
    files, graph = module_graph()
    assert len(graph) > 50 and graph["papersift.web.api"]  # the walk sees the tree and its imports
    assert circles(graph) == []


def test_no_package_imports_one_that_imports_it_back():
    """Drawn as packages (a top-level module counts as one), the flow still goes one way: the
    module test misses a circle that passes through two modules of one package."""
    graph = package_graph()
    assert len(graph) > 15 and "papersift.checks" in graph["papersift.enrich"]
    assert circles(graph) == []


def test_only_the_command_line_imports_the_command_line():
    files, graph = module_graph()
    users = sorted(
        name
        for name, targets in graph.items()
        if not name.startswith("papersift.cli") and any(t.startswith("papersift.cli") for t in targets)
    )
    assert users == []


def top_level_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and not node.level:
            found.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
    return found


def test_no_product_module_imports_the_test_support():
    """The scripted LLM server and the other test tools live in tests/support, outside the wheel."""
    users = sorted(
        str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if top_level_imports(p) & {"support", "tests"}
    )
    assert users == [] and (ROOT / "tests" / "support" / "llm_server.py").exists()


def test_the_architecture_page_is_the_code_as_it_is():
    assert (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8") == render_architecture(), (
        "docs/architecture.md is stale: run `.venv/bin/python tests/support/layout.py > docs/architecture.md`"
    )


def test_no_test_file_imports_another():
    """Shared test helpers live in support modules (tests/scripted.py, tests/web_papers.py, ...),
    so a test file can be read, run and changed on its own."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in getattr(node, "names", [])]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [f"{path.name} imports {n}" for n in names if n.split(".")[0].startswith("test_")]
    assert offenders == []


STORE = PACKAGE / "store"
SQL_CALLS = {"execute", "executemany", "executescript"}


def sql_outside_the_store(path: Path) -> list[str]:
    """``file:line`` of each statement run, database connection reached (``.conn``) or opened
    (``sqlite3.connect``) in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name, owner = node.func.attr, node.func.value
            if name in SQL_CALLS or (name == "connect" and isinstance(owner, ast.Name) and owner.id == "sqlite3"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}(")
        if isinstance(node, ast.Attribute) and node.attr == "conn":
            found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .conn")
    return found


def test_only_the_store_runs_sql():
    """Each table belongs to one module of papersift.store, the only code that runs SQL: the
    stages call its methods, so a table's queries can be read, and changed, in one place."""
    checked = [p for p in sorted(PACKAGE.rglob("*.py")) if STORE not in p.parents]
    assert len(checked) > 50 and sql_outside_the_store(STORE / "papers.py")  # the scan sees the tree and finds SQL
    assert [hit for path in checked for hit in sql_outside_the_store(path)] == []
