"""The CLI as users run it: `initlab ARGS` in a subprocess; one live API and worker per module."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.backends import sqlite_backend
from tests.service.servers import TOKEN, Service

REPO = Path(__file__).resolve().parents[2]


def initlab(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`initlab ARGS` through initlab.cli.main, this checkout first on the path."""
    full = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    full = {k: v for k, v in full.items() if v != ""}  # "" unsets a variable
    command = [sys.executable, "-c", "from initlab.cli import main; main()", *args]
    return subprocess.run(
        command, cwd=REPO, env=full, capture_output=True, text=True, timeout=timeout
    )


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The single `initlab: error:` line a failure prints, asserting there is nothing else."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("initlab: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A live API and one worker on SQLite + the embedded broker (the CLI only speaks HTTP)."""
    root = tmp_path_factory.mktemp("cli-service")
    service = Service(sqlite_backend(root), root)
    try:
        service.start_api(wait=False)
        service.start_worker(epoch_delay=0.0)
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def api_env(service: Service) -> dict[str, str]:
    """The environment a user of this service has: its URL and token."""
    return {"INITLAB_API_URL": service.url, "INITLAB_API_TOKEN": TOKEN}
