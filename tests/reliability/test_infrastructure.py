"""The servers around the workers fail: PostgreSQL drops connections mid-transaction, Redis
restarts empty, the API process dies. Runs finish anyway, with nothing lost or doubled."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis as redis_client

from tests.reliability.helpers import FaultFile, assert_nothing_lost, fault_spec, worker_logs
from tests.service.backends import REDIS, admin_connect
from tests.service.servers import Api, Service, wait_for

REDIS_SERVER = [
    "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379",
    "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis",
    "--logfile", "/var/log/redis/ci.log",
]  # fmt: skip

pytestmark = pytest.mark.slow  # live servers and workers


def _redis_up() -> bool:
    try:
        return bool(redis_client.Redis.from_url(REDIS, socket_connect_timeout=1).ping())
    except redis_client.RedisError:
        return False


@contextmanager
def redis_down() -> Iterator[None]:
    """Stop the local Redis (nothing saved: its queues are lost); start it again on exit."""
    if not REDIS.startswith("redis://127.0.0.1:6379"):
        pytest.skip(f"restarts only the local Redis at 127.0.0.1:6379, not {REDIS}")
    subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True, timeout=10)
    try:
        wait_for(lambda: not _redis_up(), 10, 0.05, "Redis to stop")
        yield
    finally:
        if not _redis_up():
            subprocess.run(REDIS_SERVER, check=True, capture_output=True, timeout=10)
        wait_for(_redis_up, 15, 0.05, "Redis to start again")


def _database(service: Service) -> str:
    return service.backend.env["INITLAB_DATABASE_URL"].rsplit("/", 1)[1]


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_postgres_connection_dropped_mid_transaction(
    pg_service: Service, pg_faults: FaultFile
) -> None:
    """Every connection of the database is terminated while the worker is inside the
    transaction that commits an epoch's rows: that epoch is not half-stored, the worker retries
    from its checkpoint, and the run ends exactly as an uninterrupted one."""
    api = Api(pg_service.url)
    spec = fault_spec("pg-drop")
    pg_faults.set("in_record", at=4, action="pause")  # main epoch 1, rows written, no commit
    created = api.submit(spec)
    pg_faults.wait_paused()
    visible = {(r["phase"], r["epoch"]) for r in api.metrics(created["id"])}
    assert ("main", 1) not in visible, "uncommitted rows are not visible"
    with admin_connect() as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (_database(pg_service),),
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    pg_faults.resume()
    api.wait_status(created["id"], timeout=90)
    (run,) = api.runs(created["id"])
    assert f"run {run['id']}: transient infrastructure error, retrying" in worker_logs(pg_service)
    assert_nothing_lost(api, created["id"], spec)


def test_redis_restart_requeues_runs_from_the_store(pg_service: Service) -> None:
    """Redis restarts empty while runs train and wait: the waiting runs' messages (and a
    submission made while Redis is down) are gone, and recovery publishes them
    again from the store. Every run finishes, nothing doubled."""
    api = Api(pg_service.url)
    spec = fault_spec("redis-restart", epochs=5, repeats=4)
    created = api.submit(spec)

    def training_and_waiting() -> bool:
        statuses = [r["status"] for r in api.runs(created["id"])]
        return "running" in statuses and "queued" in statuses

    wait_for(training_and_waiting, 60, 0.05, "runs both training and waiting")
    with redis_down():
        restarted = datetime.now().astimezone()
        during = api.submit(fault_spec("submitted-while-redis-is-down"))
        time.sleep(0.5)
    for experiment in (created, during):
        api.wait_status(experiment["id"], timeout=120)
    republished = [
        r
        for r in api.runs(created["id"]) + api.runs(during["id"])
        if r["enqueued"] and _stamp(r["enqueued"]) > restarted
    ]
    assert republished, "the sweep published lost messages again"
    assert_nothing_lost(api, created["id"], spec)
    assert_nothing_lost(api, during["id"], fault_spec("submitted-while-redis-is-down"))


def _restart_api(service: Service) -> None:
    service.kill_api()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{service.url}/api/v1/health", timeout=2)
    service.start_api()


def test_api_restarted_while_runs_train(sqlite_service: Service) -> None:
    """The API process is killed and started again while its runs train: the worker goes on
    writing to the store, and the new API serves every row."""
    api = Api(sqlite_service.url)
    spec: dict[str, Any] = fault_spec("api-restart", epochs=4, repeats=2)
    created = api.submit(spec)
    wait_for(
        lambda: any(r["last_epoch"] for r in api.runs(created["id"])),
        60,
        0.05,
        "a run to record an epoch",
    )
    _restart_api(sqlite_service)
    api = Api(sqlite_service.url)
    assert api.experiment(created["id"])["status"] in ("running", "done")
    api.wait_status(created["id"], timeout=90)
    assert_nothing_lost(api, created["id"], spec)
