"""The store and recovery without servers: schema, upserts, ownership, re-queuing, priority."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, select, update

from core.spec import parse_spec
from runqueue.app import make_celery
from runqueue.fs_transport import task_id_of
from runqueue.inspect import pending_task_ids
from store import executions, runs
from store.clock import db_time
from store.config import Settings
from store.db import Database, upgrade
from store.executions import Job
from store.models import Base, Experiment, Metric, Run
from tests.service.conftest import POSTGRES, REDIS, _admin_connect, _unavailable
from tests.service.servers import tiny_spec
from worker.recovery import Recovery


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A freshly migrated scratch database of each dialect."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}"
        upgrade(url)
        database = Database(url)
        yield database
        database.dispose()
        return
    try:
        admin = _admin_connect()
    except Exception as error:
        _unavailable(f"PostgreSQL is not reachable ({error})")
    name = f"initlab_store_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]


@pytest.fixture
def settings(tmp_path: Path, db: Database) -> Settings:
    return Settings(
        database_url=db.url,
        broker_dir=tmp_path / "broker",
        artifact_dir=tmp_path / "art",
        heartbeat_timeout=5,
        queue_grace=5,
    )


def _submit(db: Database, epochs: int = 2, repeats: int = 1, priority: int = 5) -> list[int]:
    with db.transaction() as session:
        experiment, _ = runs.create_experiment(
            session,
            spec=parse_spec(tiny_spec(epochs=epochs, repeats=repeats)),
            priority=priority,
        )
        return [run.id for run in experiment.runs]


def _claim(db: Database, run_id: int, settings: Settings, worker: str = "w@h") -> Job:
    with db.session() as session:
        task_id = str(session.get(Run, run_id).task_id)  # type: ignore[union-attr]
    job = executions.claim(
        db,
        run_id=run_id,
        task_id=task_id,
        worker=worker,
        env={"host": "h"},
        artifact_dir=settings.artifact_dir,
        heartbeat_timeout=5,
    )
    assert job is not None
    return job


def _run(db: Database, run_id: int) -> Run:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_status_derives_from_runs() -> None:
    derive = runs.derive_status
    assert derive(Counter(queued=3)) == "queued"
    assert derive(Counter(queued=2, done=1)) == "running"
    assert derive(Counter(running=1, done=2)) == "running"
    assert derive(Counter(done=3)) == "done"
    assert derive(Counter(done=2, failed=1, cancelled=1)) == "failed"
    assert derive(Counter(done=2, cancelled=1)) == "cancelled"
    assert derive(Counter(done=2, decided=3)) == "done"  # cancelled because decided
    assert derive(Counter(done=2, decided=1, cancelled=1)) == "cancelled"


def test_replayed_epoch_overwrites_its_rows(db: Database, settings: Settings) -> None:
    [run_id] = _submit(db)
    job = _claim(db, run_id, settings)
    row = {
        "phase": "main",
        "epoch": 1,
        "split": "val",
        "loss": 1.0,
        "accuracy": 0.5,
        "lr": 0.1,
        "seconds": 1.0,
        "examples": 10,
    }
    assert executions.record_epoch(db, job=job, rows=[row])
    assert executions.record_epoch(
        db, job=job, rows=[{**row, "loss": 0.75, "accuracy": float("nan")}]
    )
    with db.session() as session:
        metrics = session.scalars(select(Metric).where(Metric.run_id == run_id)).all()
    assert [(m.loss, m.accuracy) for m in metrics] == [(0.75, None)]
    # A write from an execution that no longer owns the run is refused.
    stale = dataclasses.replace(job, fence=job.fence - 1)
    assert not executions.record_epoch(db, job=stale, rows=[row])


def test_claim_is_exclusive_and_finish_sets_the_status(db: Database, settings: Settings) -> None:
    [run_id] = _submit(db)
    task_id = _run(db, run_id).task_id
    assert task_id is not None
    job = _claim(db, run_id, settings, worker="a@h")
    assert (
        executions.claim(
            db,
            run_id=run_id,
            task_id=task_id,
            worker="b@h",
            env={},
            artifact_dir=settings.artifact_dir,
            heartbeat_timeout=5,
        )
        is None
    )
    assert (
        executions.claim(
            db,
            run_id=run_id,
            task_id="stale-message",
            worker="a@h",
            env={},
            artifact_dir=settings.artifact_dir,
            heartbeat_timeout=5,
        )
        is None
    )
    assert executions.finish(db, job=job, status="failed", error="boom")
    run = _run(db, run_id)
    assert (run.status, run.error) == ("failed", "boom")
    with db.session() as session:
        experiment = session.get(Experiment, run.experiment_id)
        assert experiment is not None and experiment.status == "failed"


def test_recovery_requeues_lost_runs_and_republishes_lost_messages(
    db: Database, settings: Settings
) -> None:
    app = make_celery(settings)
    lost_worker, lost_message, waiting = _submit(db, repeats=3)
    _claim(db, lost_worker, settings)
    old = db_time(-60)
    with db.transaction() as session:
        session.execute(update(Run).where(Run.id == lost_worker).values(heartbeat=old))
        session.execute(update(Run).where(Run.id.in_([lost_message, waiting])).values(enqueued=old))
    waiting_task = _run(db, waiting).task_id
    (settings.broker_dir / "queue").mkdir(parents=True, exist_ok=True)
    (settings.broker_dir / "queue" / f"5_0_{waiting_task}.{settings.queue_name}.msg").touch()

    recovery = Recovery(db, app, settings, holder="t@h")
    report = recovery.recover_once(force_message_check=True)
    assert report.requeued == [lost_worker] and report.republished == [lost_message]
    requeued = _run(db, lost_worker)
    assert (requeued.status, requeued.requeues, requeued.worker) == ("queued", 1, None)
    pending = pending_task_ids(settings)
    assert pending is not None
    assert {requeued.task_id, _run(db, lost_message).task_id, waiting_task} <= pending
    assert _run(db, waiting).task_id == waiting_task
    assert recovery.recover_once(force_message_check=True).requeued == []  # nothing twice


def test_embedded_broker_orders_by_priority(tmp_path: Path) -> None:
    settings = Settings(broker_dir=tmp_path / "broker")
    app = make_celery(settings)
    from runqueue.app import publish_runs

    for task_id, priority in [("low", 1), ("high", 9), ("mid", 5), ("mid2", 5)]:
        publish_runs(app, settings, [runs.Dispatch(1, task_id, priority)])
    names = sorted(os.listdir(tmp_path / "broker" / "queue"))
    assert [task_id_of(n, "initlab") for n in names] == ["high", "mid", "mid2", "low"]
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("initlab")
        got = [queue.get(timeout=2) for _ in range(4)]
        assert [m.headers["id"] for m in got] == ["high", "mid", "mid2", "low"]
        queue.close()


def test_embedded_broker_drains_up_to_the_timeout_and_nothing_once_the_worker_stops(
    tmp_path: Path,
) -> None:
    """runqueue/fs_transport.py drains in short slices: a get still waits its whole timeout
    for a message written later, and once the worker's warm shutdown began it takes none."""
    from celery.signals import worker_shutting_down

    from runqueue import fs_transport
    from runqueue.app import publish_runs

    settings = Settings(broker_dir=tmp_path / "broker")
    app = make_celery(settings)
    folder = tmp_path / "broker" / "queue"
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("initlab")
        later = threading.Timer(1.0, publish_runs, (app, settings, [runs.Dispatch(1, "late", 5)]))
        later.start()
        assert queue.get(timeout=5).headers["id"] == "late"  # past several 0.25 s slices
        later.join()
        publish_runs(app, settings, [runs.Dispatch(1, "waiting", 5)])
        # What the worker's warm shutdown sets (the signal itself would also stop the training
        # of worker/tasks.py, imported by other tests of this process).
        wired = [ref() for _, ref in worker_shutting_down.receivers]
        assert fs_transport._stop_draining in wired
        fs_transport._stop_draining()
        try:
            with pytest.raises(queue.Empty):
                queue.get(timeout=1)
            assert [task_id_of(n, "initlab") for n in os.listdir(folder)] == ["waiting"]
        finally:
            fs_transport.stopping.clear()
        assert queue.get(timeout=2).headers["id"] == "waiting"  # left for the next worker
        queue.close()


def test_redis_pending_ids_see_waiting_messages(tmp_path: Path) -> None:
    import redis

    try:
        client = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
        client.ping()
    except Exception as error:
        _unavailable(f"Redis at {REDIS} is not reachable ({error})")
    prefix = f"initlab-store-{uuid.uuid4().hex[:8]}:"
    settings = Settings(broker_url=REDIS, redis_key_prefix=prefix, queue_name="q")
    app = make_celery(settings)
    from runqueue.app import publish_runs

    try:
        for task_id, priority in [("a", 1), ("b", 9)]:
            publish_runs(app, settings, [runs.Dispatch(1, task_id, priority)])
        assert pending_task_ids(settings) == {"a", "b"}
        assert client.llen(f"{prefix}q") == 1  # priority 9 -> Redis 0, the first list
        # Taken, not acknowledged: pending while a worker may still claim the run; once taken
        # longer ago than the grace by a worker that never claimed it (killed in between), lost.
        with app.connection_for_read() as connection:
            queue = connection.SimpleQueue("q")
            taken = {m.headers["id"]: m.delivery_tag for m in (queue.get(timeout=2),
                                                               queue.get(timeout=2))}
            assert set(taken) == {"a", "b"} and client.llen(f"{prefix}q") == 0
            assert pending_task_ids(settings) == {"a", "b"}
            long_ago = time.time() - 2 * settings.queue_grace
            client.zadd(f"{prefix}unacked_index", {taken["a"]: long_ago})
            assert pending_task_ids(settings) == {"b"}
            queue.close()
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)


def test_metric_ids_only_grow(db: Database, settings: Settings) -> None:
    [run_id] = _submit(db)
    job = _claim(db, run_id, settings)
    rows = [{"phase": "main", "epoch": e, "split": "val", "loss": 1.0} for e in range(1, 4)]
    for row in rows:
        executions.record_epoch(db, job=job, rows=[row])
    with db.transaction() as session:
        last = session.scalar(select(func.max(Metric.id)))
        session.execute(delete(Metric).where(Metric.id == last))
    executions.record_epoch(db, job=job, rows=[{**rows[0], "epoch": 9}])
    with db.session() as session:
        assert session.scalar(select(func.max(Metric.id))) > last  # type: ignore[operator]
