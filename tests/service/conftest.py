"""Backends (SQLite + embedded broker, PostgreSQL + Redis) and live servers on each."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.backends import (
    POSTGRES,
    REDIS,
    admin_connect,
    postgres_backend,
    sqlite_backend,
    unavailable,
)
from tests.service.servers import Backend, Service

# Older spellings, still imported by test_store.py and bench/service_latency.py.
_admin_connect, _unavailable = admin_connect, unavailable
__all__ = ["POSTGRES", "REDIS", "_admin_connect", "_unavailable"]


@pytest.fixture(scope="session", name="sqlite_backend")
def sqlite_backend_fixture(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    return sqlite_backend(tmp_path_factory.mktemp("sqlite-backend"))


@pytest.fixture(scope="session", name="postgres_backend")
def postgres_backend_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with postgres_backend(tmp_path_factory.mktemp("pg-backend")) as backend:
        yield backend


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """A live API and one live worker on each backend; logs under a temporary folder
    (or INITLAB_TEST_LOGS)."""
    backend: Backend = request.getfixturevalue(f"{request.param}_backend")
    logs = Path(os.environ.get("INITLAB_TEST_LOGS") or tmp_path_factory.mktemp("logs"))
    logs.mkdir(parents=True, exist_ok=True)
    service = Service(backend, logs)
    try:
        service.start_api(wait=False)  # both import torch: start them side by side
        service.start_worker()
        yield service
    finally:
        service.stop()
