"""The service's shape: api/ and worker/ share store/ and runqueue/ and never import each
other; the API process and the shared packages never load torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _imports(package: str) -> set[str]:
    """Top-level names of every module the files of `package` import."""
    names = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("api", {"worker"}),
        ("worker", {"api"}),
        ("store", {"api", "worker", "runqueue", "fastapi", "celery"}),
        ("runqueue", {"api", "worker", "fastapi"}),
        ("core", {"api", "worker", "store", "runqueue", "fastapi", "celery", "sqlalchemy"}),
    ],
)
def test_imports_point_one_way(package: str, forbidden: set[str]) -> None:
    assert not _imports(package) & forbidden


def _loads_torch(statement: str) -> bool:
    """Whether a fresh interpreter has torch in sys.modules after `statement`."""
    code = f"import sys; {statement}; print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_the_shared_packages_do_not_load_torch() -> None:
    modules = "store.runs, store.executions, store.liveness, store.workers, runqueue.inspect"
    assert not _loads_torch(f"import {modules}")


def test_the_api_process_does_not_load_torch() -> None:
    assert not _loads_torch("from api.main import app")


def test_checking_a_submission_does_not_load_torch() -> None:
    body = (
        '{"name": "x", "model": "small_cnn", "dataset": {"name": "digits", "root": "tmp"},'
        ' "arms": [{"name": "a", "method": "shrink_perturb"}]}'
    )
    assert not _loads_torch(
        f"from api.submission import prepare; prepare(b'{body}', None, '/', max_runs=10)"
    )
