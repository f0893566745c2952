"""The embedded defaults serve one host: a worker on SQLite or the filesystem broker refuses to
start, in one line, while another host works on the same store (issue 24)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from store import workers
from store.config import Settings
from store.db import get_database, upgrade
from tests.service.backends import REDIS, scratch_postgres
from tests.service.servers import REPO
from worker.launch import Slot, celery_argv
from worker.safety import unsafe_setup

pytestmark = pytest.mark.slow  # starts worker processes


def _state(tmp_path: Path) -> Path:
    """A SQLite state directory in which host-a has a live worker slot."""
    state = tmp_path / "state"
    state.mkdir()
    url = f"sqlite:///{state / 'initlab.db'}"
    upgrade(url)
    workers.register_worker(get_database(url), name="cpu-0@host-a-1a2b3c", host="host-a",
                            pid=1, device="cpu")
    return state


def _env(state: Path, host: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "INITLAB_HOST_NAME": host,
        "INITLAB_DATABASE_URL": f"sqlite:///{state / 'initlab.db'}",
        "INITLAB_BROKER_DIR": str(state / "broker"),
        "INITLAB_BROKER_URL": "filesystem://",
    }


def _refusal(_state: Path) -> str:
    return (
        "initlab: error: refusing to start on host host-b: SQLite and the filesystem broker "
        "serve one host only, and this store has live workers on host-a; for several hosts use "
        "PostgreSQL (INITLAB_DATABASE_URL) and Redis (INITLAB_BROKER_URL)"
    )


def test_initlab_worker_on_sqlite_refuses_with_another_host_registered(tmp_path: Path) -> None:
    state = _state(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "initlab.cli", "worker", "--cpu", "--state-dir", str(state)],
        env=_env(state, "host-b"), cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [_refusal(state)]
    assert "worker slot" not in done.stdout  # nothing was started


def test_a_celery_worker_started_directly_refuses_alike(tmp_path: Path) -> None:
    state = _state(tmp_path)
    argv = celery_argv(Slot("cpu-0"), Settings(host_name="host-b"), "WARNING")
    done = subprocess.run(argv, env=_env(state, "host-b"), cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert _refusal(state) in done.stderr.splitlines()


def test_the_same_host_or_postgres_and_redis_are_accepted(tmp_path: Path) -> None:
    state = _state(tmp_path)
    sqlite = Settings(database_url=f"sqlite:///{state / 'initlab.db'}")
    assert unsafe_setup(sqlite, "host-a") is None  # host-a's own second worker
    assert unsafe_setup(sqlite, "host-b") is not None
    with scratch_postgres("unsafe") as url:
        workers.register_worker(get_database(url), name="cpu-0@host-a-1a2b3c", host="host-a",
                                pid=1, device="cpu")
        shared = Settings(database_url=url, broker_url=REDIS)
        assert unsafe_setup(shared, "host-b") is None
        half = Settings(database_url=url, broker_url="filesystem://")
        refusal = unsafe_setup(half, "host-b")
        assert refusal is not None and "the filesystem broker serve one host" in refusal
