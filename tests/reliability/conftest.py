"""Live services for the reliability tests, each worker armed with a fault file.

- `pg_service`: API + two workers on PostgreSQL and Redis (the production shape), so that a
  worker killed at a fault point leaves another one to resume its run.
- `own_redis_service`: the same on a redis-server of its own, which the Redis-restart test
  stops and starts (the machine's shared Redis is never touched).
- `sqlite_service`: API + one worker on the embedded defaults (SQLite file, file broker), its
  checkpoints on a small tmpfs of their own where this machine lets the tests mount one (so a
  test can fill that disk).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.helpers import SEED, FaultFile, wait_workers_live
from tests.service.backends import postgres_backend, sqlite_backend
from tests.service.own_redis import OwnRedis
from tests.service.servers import Backend, Service

EPOCH_DELAY = 0.1  # seconds after each epoch: windows for the restart tests
ARTIFACT_DISK = "16m"  # the sqlite service's checkpoint tmpfs: 60 of its checkpoints


def mount_tmpfs(path: Path, size: str) -> bool:
    """Mount a tmpfs of `size` at `path`; False where this machine does not allow it."""
    path.mkdir(parents=True, exist_ok=True)
    command = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)]
    try:
        return subprocess.run(command, capture_output=True, timeout=10).returncode == 0
    except OSError:
        return False


def _logs(factory: pytest.TempPathFactory) -> Path:
    logs = Path(os.environ.get("INITLAB_TEST_LOGS") or factory.mktemp("reliability-logs"))
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def _start(backend: Backend, root: Path, logs: Path, workers: int) -> Service:
    service = Service(backend, logs)
    service.worker_env["INITLAB_FAULT_FILE"] = str(root / "fault.json")
    service.start_api(wait=False)  # the API and the workers import torch side by side
    for _ in range(workers):
        service.start_worker(EPOCH_DELAY, wait=False)
    service.wait_api()
    wait_workers_live(service)
    return service


def pytest_report_header() -> str:
    return f"reliability: fault points drawn with INITLAB_FAULT_SEED={SEED}"


@pytest.fixture(scope="session")
def pg_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("reliability-pg")
    with postgres_backend(root, "rel-postgres") as backend:
        service = _start(backend, root, _logs(tmp_path_factory), workers=2)
        try:
            yield service
        finally:
            service.stop()


@pytest.fixture(scope="module")
def own_redis_service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Service, OwnRedis]]:
    """API + two workers on PostgreSQL and a Redis of their own, which a test may restart."""
    root = tmp_path_factory.mktemp("reliability-own-redis")
    own = OwnRedis(root / "redis")
    own.start()
    try:
        with postgres_backend(root, "rel-own-redis", redis_url=own.url) as backend:
            service = _start(backend, root, _logs(tmp_path_factory), workers=2)
            try:
                yield service, own
            finally:
                service.stop()
    finally:
        own.stop()


@pytest.fixture(scope="session")
def sqlite_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("reliability-sqlite")
    backend = sqlite_backend(root)
    artifacts = Path(backend.env["INITLAB_ARTIFACT_DIR"])
    mounted = mount_tmpfs(artifacts, ARTIFACT_DISK)
    service = _start(backend, root, _logs(tmp_path_factory), workers=1)
    try:
        yield service
    finally:
        service.stop()
        if mounted:
            subprocess.run(["umount", "-l", str(artifacts)], capture_output=True, timeout=10)


def fault_file(service: Service) -> FaultFile:
    return FaultFile(Path(service.worker_env["INITLAB_FAULT_FILE"]))


@pytest.fixture
def pg_faults(pg_service: Service) -> Iterator[FaultFile]:
    faults = fault_file(pg_service)
    yield faults
    faults.clear()


@pytest.fixture
def sqlite_faults(sqlite_service: Service) -> Iterator[FaultFile]:
    faults = fault_file(sqlite_service)
    yield faults
    faults.clear()
