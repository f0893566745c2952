"""The heartbeat sweep: no run stays running or queued forever.

- A running run whose heartbeat is older than INITLAB_HEARTBEAT_TIMEOUT lost its worker:
  it goes back to the queue under a new message id (the old message, should it ever come
  back, is then ignored) and resumes from its checkpoint.
- A queued run older than INITLAB_QUEUE_GRACE whose message is not in the broker (a Redis
  restart, a publish that failed) is published again.
Every change is a conditional UPDATE on the old message id, so any number of sweeps (one per
worker) can run at once without double-queuing a run.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

from celery import Celery
from sqlalchemy import or_, select, update

from api.config import Settings
from api.crud import Dispatch, fresh_since, lock_experiment, new_task_id, sync_status
from api.db import Database
from api.models import Experiment, Run, utcnow
from worker.celery_app import PRIORITY_STEPS, embedded_folders, publish_runs
from worker.fs_transport import task_id_of

log = logging.getLogger(__name__)
# Where the broker cannot be inspected, a queued run is republished only after this many
# queue_grace periods (a duplicate message is harmless, only wasteful).
BLIND_FACTOR = 60


@dataclass
class SweepReport:
    requeued: list[int] = field(default_factory=list)  # running, heartbeat stale
    republished: list[int] = field(default_factory=list)  # queued, message lost


def _redis_task_ids(settings: Settings) -> set[str]:
    import redis

    client = redis.Redis.from_url(settings.broker_url, socket_timeout=5)
    prefix, queue = settings.redis_key_prefix, settings.queue_name
    keys = [f"{prefix}{queue}"] + [f"{prefix}{queue}:{p}" for p in PRIORITY_STEPS if p]
    waiting = [m for key in keys for m in client.lrange(key, 0, -1)]
    unacked = client.hvals(f"{prefix}unacked")  # each [message, exchange, routing key]
    ids = set()
    for raw, held in [(m, False) for m in waiting] + [(m, True) for m in unacked]:
        try:
            message = json.loads(raw)
            ids.add((message[0] if held else message)["headers"]["id"])
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return ids


def pending_task_ids(settings: Settings) -> set[str] | None:
    """Task ids of the messages waiting in (or held unacknowledged by) the broker; None where
    the broker cannot be inspected."""
    if settings.is_embedded_broker:
        folder = embedded_folders(settings)["queue"]
        names = os.listdir(folder) if folder.is_dir() else []
        return {t for t in (task_id_of(n, settings.queue_name) for n in names) if t}
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return _redis_task_ids(settings)
    return None


def _requeue_stale(db: Database, settings: Settings) -> list[Dispatch]:
    cutoff = fresh_since(settings.heartbeat_timeout)
    stale_filter = (Run.status == "running", or_(Run.heartbeat.is_(None), Run.heartbeat < cutoff))
    with db.session() as session:
        stale = session.execute(
            select(Run.id, Run.experiment_id, Run.task_id).where(*stale_filter)
        ).all()
    dispatches = []
    for run_id, experiment_id, old_task in stale:
        with db.transaction() as session:
            experiment = lock_experiment(session, experiment_id)
            task_id = new_task_id()
            done = session.execute(
                update(Run)
                .where(Run.id == run_id, Run.task_id == old_task, *stale_filter)
                .values(
                    status="queued",
                    task_id=task_id,
                    enqueued=utcnow(),
                    worker=None,
                    requeues=Run.requeues + 1,
                )
            ).rowcount  # type: ignore[attr-defined]
            if done and experiment is not None:
                sync_status(session, experiment)
                dispatches.append(Dispatch(run_id, task_id, experiment.priority))
                log.warning(
                    "run %s: heartbeat older than %ss, re-queued",
                    run_id,
                    settings.heartbeat_timeout,
                )
    return dispatches


def _republish_lost(db: Database, settings: Settings) -> list[Dispatch]:
    pending = pending_task_ids(settings)  # read first: a message taken later is in this set
    grace = settings.queue_grace * (1 if pending is not None else BLIND_FACTOR)
    with db.session() as session:
        candidates = session.execute(
            select(Run.id, Run.task_id, Experiment.priority)
            .join(Experiment, Run.experiment_id == Experiment.id)
            .where(Run.status == "queued", Run.enqueued < fresh_since(grace))
        ).all()
    dispatches = []
    for run_id, old_task, priority in candidates:
        if pending is not None and old_task in pending:
            continue
        task_id = new_task_id()
        with db.transaction() as session:
            done = session.execute(
                update(Run)
                .where(Run.id == run_id, Run.task_id == old_task, Run.status == "queued")
                .values(task_id=task_id, enqueued=utcnow())
            ).rowcount  # type: ignore[attr-defined]
        if done:
            dispatches.append(Dispatch(run_id, task_id, priority))
            log.warning("run %s: queued without a message in the broker, published again", run_id)
    return dispatches


def sweep_once(db: Database, app: Celery, settings: Settings) -> SweepReport:
    """One pass: re-queue runs of lost workers and republish queued runs with no message."""
    requeued, republished = _requeue_stale(db, settings), _republish_lost(db, settings)
    publish_runs(app, settings, [*requeued, *republished])
    return SweepReport([d.run_id for d in requeued], [d.run_id for d in republished])
