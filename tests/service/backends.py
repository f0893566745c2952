"""Backends for live-server tests: a SQLite file + embedded broker, or a scratch PostgreSQL
database + a Redis key prefix. Used by tests/service, tests/reliability and bench/."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from store.db import get_database, upgrade
from tests.service.servers import Backend

POSTGRES = os.environ.get(
    "INITLAB_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("INITLAB_TEST_REDIS", "redis://127.0.0.1:6379/0")


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail where INITLAB_REQUIRE_SERVICES=1 says the servers must be there."""
    if os.environ.get("INITLAB_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (INITLAB_REQUIRE_SERVICES=1)")
    pytest.skip(f"{reason}; set INITLAB_TEST_POSTGRES / INITLAB_TEST_REDIS to reach them")


def admin_connect() -> Any:
    """An autocommit psycopg connection to the PostgreSQL test server."""
    import psycopg

    url = POSTGRES.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def sqlite_backend(root: Path) -> Backend:
    """A migrated SQLite store and an embedded broker under `root` (with a data root)."""
    url = f"sqlite:///{root / 'initlab.db'}"
    upgrade(url)
    (root / "data").mkdir(exist_ok=True)
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


@contextmanager
def scratch_postgres(label: str, migrate: bool = True) -> Iterator[str]:
    """The URL of a scratch PostgreSQL database of its own (migrated unless not `migrate`),
    dropped after."""
    try:
        admin = admin_connect()
    except Exception as error:
        unavailable(f"PostgreSQL at {POSTGRES.split('@')[-1]} is not reachable ({error})")
    name = f"initlab_{label}_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    try:
        if migrate:
            upgrade(url)
        yield url
    finally:
        get_database(url).dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def scratch_url(dialect: str, root: Path, label: str, migrate: bool = True) -> Iterator[str]:
    """The URL of a store of its own: a SQLite file under `root` or a scratch PostgreSQL
    database (migrated unless not `migrate`)."""
    if dialect == "postgres":
        with scratch_postgres(label, migrate) as url:
            yield url
        return
    url = f"sqlite:///{root / f'{label}.db'}"
    if migrate:
        upgrade(url)
    yield url


@contextmanager
def postgres_backend(
    root: Path, label: str = "postgres", redis_url: str = REDIS
) -> Iterator[Backend]:
    """A scratch PostgreSQL database and Redis key prefix of its own; both dropped after."""
    try:
        admin = admin_connect()
    except Exception as error:
        unavailable(f"PostgreSQL at {POSTGRES.split('@')[-1]} is not reachable ({error})")
    try:
        import redis

        client = redis.Redis.from_url(redis_url, socket_connect_timeout=3)
        client.ping()
    except Exception as error:
        unavailable(f"Redis at {redis_url} is not reachable ({error})")
    name = f"initlab_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    (root / "data").mkdir(exist_ok=True)
    prefix = f"{name}:"
    try:
        yield Backend(
            label,
            {
                "INITLAB_DATABASE_URL": url,
                "INITLAB_BROKER_URL": redis_url,
                "INITLAB_REDIS_KEY_PREFIX": prefix,
                "INITLAB_QUEUE_NAME": name,
                "INITLAB_ARTIFACT_DIR": str(root / "art"),
                "INITLAB_DATA_ROOT": str(root / "data"),
            },
        )
    finally:
        get_database(url).dispose()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        try:
            for key in client.scan_iter(f"{prefix}*"):
                client.delete(key)
        except Exception:  # Redis may be restarting under a reliability test
            pass
