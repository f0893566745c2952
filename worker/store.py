"""The worker's writes to the store. An execution owns its run while run.task_id is its own."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.crud import (
    METRIC_FIELDS,
    Dispatch,
    fresh_since,
    lock_experiment,
    new_task_id,
    sync_status,
)
from api.db import Database
from api.models import Metric, Run, Worker, utcnow
from core.phase_order import phase_rank
from core.spec import ExperimentSpec, parse_spec
from worker import faults

# pg_advisory_xact_lock(class, experiment): metric writes of one experiment commit in id order,
# so a reader's ?after= cursor never skips a row that commits late.
METRIC_LOCK_CLASS = 0x1A17
VALUE_FIELDS = METRIC_FIELDS[3:]  # all but the (phase, epoch, split) key


@dataclass(frozen=True)
class Job:
    """What a claimed run needs to train."""

    run_id: int
    experiment_id: int
    spec: ExperimentSpec
    arm: str
    repeat: int
    checkpoint: Path
    last: tuple[str, int] | None = None  # (phase, epoch) last recorded before this execution


def _stale(heartbeat: datetime | None, timeout: float) -> bool:
    return heartbeat is None or heartbeat < fresh_since(timeout)


def claim(
    db: Database,
    *,
    run_id: int,
    task_id: str,
    worker: str,
    env: dict[str, Any],
    artifact_dir: Path,
    heartbeat_timeout: float,
) -> Job | None:
    """Mark the run running for this execution, or None when the message is not (or no
    longer) the run's live one, the run is finished, or another worker holds it."""
    with db.transaction() as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        experiment = lock_experiment(session, run.experiment_id)
        session.refresh(run)
        resumable = run.status == "running" and (
            run.worker == worker or _stale(run.heartbeat, heartbeat_timeout)
        )
        if (
            experiment is None
            or run.task_id != task_id
            or not (run.status == "queued" or resumable)
        ):
            return None
        now = utcnow()
        checkpoint = artifact_dir.resolve() / f"{run.id}.pt"
        run.status, run.worker, run.heartbeat, run.error = "running", worker, now, None
        run.started = run.started or now
        run.checkpoint = str(checkpoint)
        for key, value in env.items():
            setattr(run, key, value)
        sync_status(session, experiment)
        spec = parse_spec(experiment.spec)
        last = None if run.last_phase is None else (run.last_phase, int(run.last_epoch or 0))
        return Job(run.id, experiment.id, spec, run.arm, run.repeat, checkpoint, last)


def _clean(value: Any) -> Any:
    """NaN and infinities become NULL: JSON has no spelling for them."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _phase_key(phase: str | None, epoch: int | None) -> tuple[int, int, int]:
    if phase is None or epoch is None:
        return (-1, 0, 0)
    return (*phase_rank(phase), epoch)


def upsert_metrics(
    session: Session, *, run_id: int, experiment_id: int, rows: list[dict[str, Any]]
) -> None:
    """Insert rows; a row whose (run, phase, epoch, split) exists is overwritten in place."""
    dialect = session.get_bind().dialect.name
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    values = [
        {
            "run_id": run_id,
            "experiment_id": experiment_id,
            **{f: _clean(row.get(f)) for f in METRIC_FIELDS},
        }
        for row in rows
    ]
    statement = insert(Metric).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["run_id", "phase", "epoch", "split"],
        set_={f: statement.excluded[f] for f in VALUE_FIELDS},
    )
    session.execute(statement)


def record_epoch(db: Database, *, job: Job, task_id: str, rows: list[dict[str, Any]]) -> bool:
    """One epoch's rows and the run's last phase/epoch in one transaction; False if not owned."""
    if not rows:
        return True
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:c, :e)"),
                {"c": METRIC_LOCK_CLASS, "e": job.experiment_id},
            )
        run = session.scalars(
            select(Run).where(Run.id == job.run_id, Run.task_id == task_id)
        ).one_or_none()
        if run is None:
            return False
        phase, epoch = rows[-1]["phase"], int(rows[-1]["epoch"])
        # Rows replayed on resume must not move the progress backwards.
        if _phase_key(phase, epoch) > _phase_key(run.last_phase, run.last_epoch):
            run.last_phase, run.last_epoch = phase, epoch
        upsert_metrics(session, run_id=job.run_id, experiment_id=job.experiment_id, rows=rows)
        faults.reach("in_record")  # testing only: a fault inside this transaction
    return True


def beat(db: Database, *, run_id: int, task_id: str) -> bool:
    """Refresh the run's heartbeat; False when this execution no longer owns a running run."""
    with db.transaction() as session:
        result = session.execute(
            update(Run)
            .where(Run.id == run_id, Run.task_id == task_id, Run.status == "running")
            .values(heartbeat=utcnow())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def still_running(db: Database, *, run_id: int, task_id: str) -> bool:
    """Whether the run is running and owned by this execution (the cancel check)."""
    with db.session() as session:
        row = session.execute(select(Run.status, Run.task_id).where(Run.id == run_id)).first()
    return row is not None and row.status == "running" and row.task_id == task_id


def finish(
    db: Database,
    *,
    run_id: int,
    task_id: str,
    status: str,
    error: str | None = None,
    result: Any = None,
) -> bool:
    """Record the end of an owned, running run: done with its result, or failed with error."""
    with db.transaction() as session:
        run = session.get(Run, run_id)
        if run is None:
            return False
        experiment = lock_experiment(session, run.experiment_id)
        session.refresh(run)
        if experiment is None or run.task_id != task_id or run.status != "running":
            return False
        run.status, run.finished, run.error = status, utcnow(), error
        if result is not None:
            run.seed, run.init_fingerprint = result.seed, result.init_fingerprint
            run.wall_seconds = {k: float(v) for k, v in result.wall_seconds.items()}
            run.precision, run.deterministic = result.precision, result.deterministic
        sync_status(session, experiment)
        return True


def release(db: Database, *, run_id: int, task_id: str) -> None:
    """Hand an owned run back to the queue (same message id) before a transient-error retry."""
    with db.transaction() as session:
        run = session.get(Run, run_id)
        if run is None:
            return
        experiment = lock_experiment(session, run.experiment_id)
        session.execute(
            update(Run)
            .where(Run.id == run_id, Run.task_id == task_id, Run.status == "running")
            .values(status="queued", worker=None, enqueued=utcnow())
        )
        if experiment is not None:
            sync_status(session, experiment)


def hand_back(db: Database, *, run_id: int, task_id: str) -> Dispatch | None:
    """Queue an owned, running run again under a new message id (worker shutting down)."""
    with db.transaction() as session:
        run = session.get(Run, run_id)
        if run is None:
            return None
        experiment = lock_experiment(session, run.experiment_id)
        session.refresh(run)
        if experiment is None or run.task_id != task_id or run.status != "running":
            return None
        run.status, run.worker, run.task_id = "queued", None, new_task_id()
        run.enqueued = utcnow()
        sync_status(session, experiment)
        return Dispatch(run.id, run.task_id, experiment.priority)


def register_worker(db: Database, *, name: str, host: str, pid: int, device: str) -> None:
    """Add (or replace) this worker slot's row."""
    with db.transaction() as session:
        session.execute(delete(Worker).where(Worker.name == name))
        now = utcnow()
        session.add(
            Worker(name=name, host=host, pid=pid, device=device, started=now, heartbeat=now)
        )


def beat_worker(db: Database, *, name: str, run_id: int | None) -> None:
    with db.transaction() as session:
        session.execute(
            update(Worker).where(Worker.name == name).values(heartbeat=utcnow(), run_id=run_id)
        )


def unregister_worker(db: Database, *, name: str) -> None:
    with db.transaction() as session:
        session.execute(delete(Worker).where(Worker.name == name))
