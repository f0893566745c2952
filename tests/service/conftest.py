"""Backends (SQLite + embedded broker, PostgreSQL + Redis) and live servers on each."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.db import upgrade
from tests.service.servers import Backend, Service

POSTGRES = os.environ.get(
    "INITLAB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("INITLAB_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _unavailable(reason: str) -> None:
    """Skip, or fail where INITLAB_REQUIRE_SERVICES=1 says the servers must be there."""
    if os.environ.get("INITLAB_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (INITLAB_REQUIRE_SERVICES=1)")
    pytest.skip(f"{reason}; set INITLAB_TEST_POSTGRES / INITLAB_TEST_REDIS to reach them")


def _admin_connect() -> object:
    import psycopg

    url = POSTGRES.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    root = tmp_path_factory.mktemp("sqlite-backend")
    url = f"sqlite:///{root / 'initlab.db'}"
    upgrade(url)
    (root / "data").mkdir()
    return Backend(
        "sqlite",
        {
            "INITLAB_DATABASE_URL": url,
            "INITLAB_BROKER_URL": "filesystem://",
            "INITLAB_BROKER_DIR": str(root / "broker"),
            "INITLAB_ARTIFACT_DIR": str(root / "art"),
            "INITLAB_DATA_ROOT": str(root / "data"),
            "INITLAB_QUEUE_NAME": "initlab",
        },
    )


@pytest.fixture(scope="session")
def postgres_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    try:
        admin = _admin_connect()
    except Exception as error:
        _unavailable(f"PostgreSQL at {POSTGRES.split('@')[-1]} is not reachable ({error})")
    try:
        import redis

        client = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
        client.ping()
    except Exception as error:
        _unavailable(f"Redis at {REDIS} is not reachable ({error})")
    name = f"initlab_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    root = tmp_path_factory.mktemp("pg-backend")
    (root / "data").mkdir()
    prefix = f"{name}:"
    yield Backend(
        "postgres",
        {
            "INITLAB_DATABASE_URL": url,
            "INITLAB_BROKER_URL": REDIS,
            "INITLAB_REDIS_KEY_PREFIX": prefix,
            "INITLAB_QUEUE_NAME": f"{name}",
            "INITLAB_ARTIFACT_DIR": str(root / "art"),
            "INITLAB_DATA_ROOT": str(root / "data"),
        },
    )
    from api.db import get_database

    get_database(url).dispose()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


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
