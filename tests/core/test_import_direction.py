"""core/'s rooms import one way, core/ imports no service, and neither core/ nor worker/ has a loop.

Read from the source with ast (every import, a function's own included), so a lazy import that
breaks the direction fails here as surely as one at the top of a module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVICE = ("api", "apiclient", "store", "runqueue", "worker", "dashboard", "initlab",
           "fastapi", "starlette", "uvicorn", "celery", "kombu", "redis", "sqlalchemy",
           "alembic", "psycopg", "streamlit")
ROOMS = ("training", "stats", "reports", "paper", "data", "models", "search")
# room -> the rooms it must never import (core's root modules are open to every room).
# The layers, lowest first: root (the spec, which checks model names in core.models.names);
# data and models; stats; reports; training (`initlab run` writes its report files); paper.
FORBIDDEN = {
    "root": ("training", "stats", "reports", "paper", "search"),
    "data": ("training", "stats", "reports", "paper", "search"),
    "models": ("training", "stats", "reports", "paper", "data", "search"),
    "stats": ("training", "reports", "paper", "data", "models", "search"),
    "reports": ("training", "paper", "data", "models", "search"),
    "training": ("paper", "search"),
    "paper": (),
    # The calibration search (issue 27): the spec and the equal-compute statistics only.
    "search": ("training", "reports", "paper", "data", "models"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: frozenset[str] = frozenset()) -> set[str]:
    """Every module `path` imports, as dotted names: 'from a import b' counts a.b, and a too
    unless every b is one of `modules` (a package's submodules are not the package)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            named = {f"{node.module}.{alias.name}" for alias in node.names}
            found |= named
            if not named <= modules:
                found.add(node.module)
    return found


def graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    files = sorted((REPO / package).rglob("*.py"))
    names = frozenset(module_name(f) for f in files)
    return {module_name(f): {m for m in imports_of(f, names) if m in names} - {module_name(f)}
            for f in files}


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in ROOMS else "root"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


CORE_FILES = sorted((REPO / "core").rglob("*.py"))


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_a_core_module_imports_no_service_and_no_room_above_its_own(path: Path) -> None:
    own = room_of(module_name(path))
    wrong = sorted(
        m for m in imports_of(path)
        if m.split(".")[0] in SERVICE
        or (m.startswith("core.") and room_of(m + ".x") in FORBIDDEN[own])
    )
    assert not wrong, f"{module_name(path)} ({own}) imports {wrong}"


@pytest.mark.parametrize("package", ["core", "worker"])
def test_no_import_loop(package: str) -> None:
    assert cycles(graph(package)) == []


def test_the_loop_check_finds_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_room_says_what_it_may_import() -> None:
    for room in ROOMS[:4]:
        doc = ast.get_docstring(ast.parse((REPO / "core" / room / "__init__.py").read_text()))
        assert doc and "import" in doc.lower(), f"core/{room}/__init__.py: no word of imports"
