"""Which runs lost their owner, and the lease that lets one worker at a time look.

All cut-offs are computed by the database (store.clock): a worker with a skewed clock can
neither steal a live run nor keep a dead one.
- lost: running, heartbeat older than INITLAB_HEARTBEAT_TIMEOUT (the process is gone);
- stalled: running, beating, but no batch or epoch advanced for INITLAB_STALL_TIMEOUT
  (a hung data read, a wedged device);
both go back to the queue under a new message id and a re-queue reason; the old owner is
fenced by the status change (store/executions.py) and stops at its next batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from store.clock import database_now, db_time
from store.db import Database
from store.models import Experiment, Lease, Run
from store.runs import Dispatch, lock_both, new_task_id, sync_status
from store.states import transition

log = logging.getLogger(__name__)


def take_lease(db: Database, *, name: str, holder: str, seconds: float) -> bool:
    """Hold lease `name` for `seconds` more if it is free, expired, or already `holder`'s."""
    with db.transaction() as session:
        insert = sqlite.insert if db.dialect == "sqlite" else postgresql.insert
        session.execute(
            insert(Lease).values(name=name, holder=None, expires=None).on_conflict_do_nothing()
        )
        taken = session.execute(
            update(Lease)
            .where(
                Lease.name == name,
                # <=: a released lease expires "now", which SQLite's millisecond clock can
                # still read as now in the next statement.
                or_(Lease.holder == holder, Lease.expires.is_(None), Lease.expires <= db_time()),
            )
            .values(holder=holder, expires=db_time(seconds))
        ).rowcount  # type: ignore[attr-defined]
    return bool(taken)


def release_lease(db: Database, *, name: str, holder: str) -> None:
    """Let lease `name` expire now if `holder` holds it."""
    with db.transaction() as session:
        session.execute(
            update(Lease)
            .where(Lease.name == name, Lease.holder == holder)
            .values(expires=db_time())
        )


def _requeue(db: Database, condition: Any, reason: str) -> list[Dispatch]:
    """Queue again every running run that meets `condition` (re-checked under its lock)."""
    with db.session() as session:
        candidates = session.scalars(select(Run.id).where(Run.status == "running", condition))
        run_ids = list(candidates)
    dispatches = []
    for run_id in run_ids:
        with db.transaction() as session:
            locked = lock_both(session, run_id)
            if locked is None:
                continue
            experiment, run = locked
            still = session.scalar(select(condition).where(Run.id == run_id))
            if run.status != "running" or not still:
                continue
            fenced = run.fence
            transition(
                run,
                "queued",
                task_id=new_task_id(),
                enqueued=database_now(session),
                worker=None,
                requeues=run.requeues + 1,
                stalls=run.stalls + (reason == "stalled"),
                requeue_reason=reason,
            )
            sync_status(session, experiment)
            dispatches.append(
                Dispatch(run.id, str(run.task_id), experiment.priority, experiment.device)
            )
            log.warning(
                "run %s attempt %s: %s, re-queued (owner fenced off)", run_id, fenced, reason
            )
    return dispatches


def requeue_lost(db: Database, *, heartbeat_timeout: float) -> list[Dispatch]:
    """Running runs whose heartbeat is older than the timeout go back to the queue."""
    stale = or_(Run.heartbeat.is_(None), Run.heartbeat < db_time(-heartbeat_timeout))
    return _requeue(db, stale, "lost")


def requeue_stalled(db: Database, *, stall_timeout: float) -> list[Dispatch]:
    """Running runs that beat but made no progress for `stall_timeout` go back to the queue."""
    stuck = Run.progress_at < db_time(-stall_timeout)
    return _requeue(db, stuck, "stalled")


def queued_pages(
    db: Database, *, older_than: float, page: int
) -> Iterator[list[tuple[int, str, int, str]]]:
    """Queued runs enqueued more than `older_than` seconds ago, as pages of (run id, task id,
    priority, device class) in id order (keyset paging: each page is one short indexed query)."""
    after = 0
    while True:
        with db.session() as session:
            rows = session.execute(
                select(Run.id, Run.task_id, Experiment.priority, Experiment.device)
                .join(Experiment, Run.experiment_id == Experiment.id)
                .where(Run.status == "queued", Run.enqueued < db_time(-older_than), Run.id > after)
                .order_by(Run.id)
                .limit(page)
            ).all()
        if not rows:
            return
        yield [(r[0], str(r[1]), int(r[2]), str(r[3])) for r in rows]
        after = rows[-1][0]


def republish(
    db: Database, *, run_id: int, old_task: str, priority: int, device: str = "any"
) -> Dispatch | None:
    """Give a queued run whose message is lost a new message id (None if it moved on)."""
    task_id = new_task_id()
    with db.transaction() as session:
        done = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.task_id == old_task, Run.status == "queued")
            .values(task_id=task_id, enqueued=db_time())
        ).rowcount  # type: ignore[attr-defined]
    return Dispatch(run_id, task_id, priority, device) if done else None
