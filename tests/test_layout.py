"""The layout shows the flow: no two of papersift's modules import each other, directly or round
a circle (a package and its own modules aside), so every stage can be read after the ones it uses."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "papersift"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str, modules: set[str]) -> set[str]:
    """The papersift modules ``path`` imports, anywhere in it (a function-level import counts too)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m in modules and not (m.startswith(name + ".") or name.startswith(m + "."))}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every module that can reach itself, with the path (depth-first, iterative)."""
    found = []
    for start in graph:
        stack = [(start, [start])]
        seen = {start}
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    found.append(path)
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))
    return found


def test_no_module_imports_one_that_imports_it_back():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {name: imports(path, name, set(files)) for name, path in files.items()}
    assert len(graph) > 50 and graph["papersift.web.api"]  # the walk sees the tree and its imports
    assert circles(graph) == []


def test_no_product_module_imports_the_test_tooling():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    product = {name for name in files if not name.startswith("papersift.testing")}
    users = sorted(name for name in product if any(m.startswith("papersift.testing") for m in imports(files[name], name, set(files))))
    assert users == []


def test_no_test_file_imports_another():
    """Shared test helpers live in support modules (tests/scripted.py, tests/web_papers.py, ...),
    so a test file can be read, run and changed on its own."""
    tests = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(tests.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in getattr(node, "names", [])] if isinstance(node, ast.Import) else []
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
    checked = [p for p in sorted(PACKAGE.rglob("*.py"))
               if STORE not in p.parents]
    assert len(checked) > 50 and sql_outside_the_store(STORE / "papers.py")  # the scan sees the tree and finds SQL
    assert [hit for path in checked for hit in sql_outside_the_store(path)] == []
