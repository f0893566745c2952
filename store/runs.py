"""Run operations shared by the API and the workers: creating, locking, cancelling, retrying.

Every status change goes through store.states; a run's row is read under its lock (PostgreSQL
SELECT ... FOR UPDATE; on SQLite db.transaction() holds the write lock from BEGIN IMMEDIATE).
Locks are always taken experiment first, then run, so concurrent writers cannot deadlock.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, case, delete, func, select, update
from sqlalchemy.orm import Session

from core.spec import ExperimentSpec, spec_to_json
from core.training.stopping import DECIDED
from store.clock import database_now, db_time
from store.models import Experiment, Metric, Run
from store.states import sources, transition

METRIC_FIELDS = (
    "phase",
    "epoch",
    "split",
    "loss",
    "accuracy",
    "lr",
    "seconds",
    "examples",
    "examples_total",
    "seconds_total",
)


class Conflict(Exception):
    """The request is valid but the object is in a state that forbids it (HTTP 409)."""


@dataclass(frozen=True)
class Dispatch:
    """A message to publish once the transaction that queued the run has committed."""

    run_id: int
    task_id: str
    priority: int
    device: str = "any"  # execution.device: which queue (runqueue.app.queue_for)


def new_task_id() -> str:
    return str(uuid.uuid4())


def derive_status(counts: Counter[str]) -> str:
    """An experiment's status from its runs' statuses."""
    total = sum(counts.values())
    if counts["running"] or (counts["queued"] and counts["queued"] < total):
        return "running"
    if counts["queued"]:
        return "queued"
    # Runs cancelled because the primary comparison was decided (counted as "decided") end an
    # experiment as done: its question is answered, nothing was given up.
    if total and counts["done"] and counts["done"] + counts["decided"] == total:
        return "done"
    return "failed" if counts["failed"] else "cancelled"


def lock_experiment(session: Session, experiment_id: int) -> Experiment | None:
    """The experiment, row-locked (PostgreSQL) so concurrent run updates serialise on it."""
    query = select(Experiment).where(Experiment.id == experiment_id).with_for_update()
    return session.scalars(query).one_or_none()


def lock_run(session: Session, run_id: int) -> Run | None:
    """The run re-read under its row lock, for a check-then-write in this transaction."""
    query = select(Run).where(Run.id == run_id).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def lock_both(session: Session, run_id: int) -> tuple[Experiment, Run] | None:
    """The run and its experiment, both locked (experiment first), or None if either is gone."""
    experiment_id = session.scalar(select(Run.experiment_id).where(Run.id == run_id))
    if experiment_id is None:
        return None
    experiment = lock_experiment(session, experiment_id)
    run = lock_run(session, run_id)
    return None if experiment is None or run is None else (experiment, run)


def run_outcome() -> ColumnElement[str]:
    """A run's status for derive_status, in SQL: 'decided' for a run cancelled because the
    primary comparison was decided, its status otherwise."""
    decided = and_(Run.status == "cancelled", Run.error.like(f"{DECIDED}:%"))
    return case((decided, "decided"), else_=Run.status)


def sync_status(session: Session, experiment: Experiment) -> str:
    """Recompute and store the status of a (locked) experiment from its runs."""
    status = run_outcome()
    rows = session.execute(
        select(status, func.count()).where(Run.experiment_id == experiment.id).group_by(status)
    ).all()
    experiment.status = derive_status(Counter({status: n for status, n in rows}))
    return experiment.status


def create_experiment(
    session: Session,
    *,
    spec: ExperimentSpec,
    priority: int,
    sweep_id: str | None = None,
    owner: str | None = None,
) -> tuple[Experiment, list[Dispatch]]:
    """Store the experiment and one queued run per (arm, repeat), owned by `owner`."""
    now = database_now(session)
    experiment = Experiment(
        name=spec.name,
        spec=spec_to_json(spec),
        status="queued",
        priority=priority,
        created=now,
        sweep_id=sweep_id,
        owner=owner,
        device=spec.execution.device,
    )
    experiment.runs = [
        Run(
            arm=arm,
            repeat=repeat,
            seed=spec.seed,
            status="queued",
            attempt=1,
            requeues=0,
            stalls=0,
            fence=0,
            task_id=new_task_id(),
            enqueued=now,
        )
        for arm, repeat in spec.run_keys()
    ]
    session.add(experiment)
    session.flush()
    dispatches = [
        Dispatch(run.id, str(run.task_id), priority, experiment.device) for run in experiment.runs
    ]
    return experiment, dispatches


def cancel_experiment(session: Session, *, experiment: Experiment) -> int:
    """Cancel every queued or running run of a locked experiment; returns how many.

    A running owner is fenced by the status change itself: its next write or stop check
    finds the run no longer running and it stops.
    """
    result = session.execute(
        update(Run)
        .where(Run.experiment_id == experiment.id, Run.status.in_(sources("cancelled")))
        .values(status="cancelled", finished=db_time())
        .execution_options(synchronize_session=False)
    )
    sync_status(session, experiment)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def cancel_run(session: Session, *, run_id: int) -> Run:
    """Cancel one queued or running run (fenced like an experiment's cancel); its status after.

    Raises LookupError for an unknown run and Conflict for one that has already finished.
    """
    locked = lock_both(session, run_id)
    if locked is None:
        raise LookupError(f"run {run_id} not found")
    experiment, run = locked
    if run.status not in sources("cancelled"):
        raise Conflict(
            f"run {run.id} is {run.status}; only "
            f"{' or '.join(sources('cancelled'))} runs can be cancelled"
        )
    transition(run, "cancelled", finished=database_now(session))
    sync_status(session, experiment)
    return run


def retry_run(session: Session, *, run_id: int, fresh: bool) -> tuple[Run, Dispatch]:
    """Queue a failed or cancelled run again as a new attempt (resuming unless `fresh`).

    A fresh retry deletes the rows and forgets the committed checkpoint in the same
    transaction; the files stay with the worker that wrote them, and an old execution that is
    still running can neither write rows nor commit its checkpoint again (it is fenced).
    """
    locked = lock_both(session, run_id)
    if locked is None:
        raise LookupError(f"run {run_id} not found")
    experiment, run = locked
    if experiment.provenance is not None:
        raise Conflict(
            f"run {run.id} belongs to an imported experiment; imported runs cannot be retried"
            " or resumed"
        )
    if run.status not in ("failed", "cancelled"):
        raise Conflict(
            f"run {run.id} is {run.status}; only failed or cancelled runs can be retried"
        )
    if fresh:
        session.execute(delete(Metric).where(Metric.run_id == run.id))
        run.last_phase = run.last_epoch = run.checkpoint = None
        run.data_digest = None  # a fresh start may read the data this host has
    transition(
        run,
        "queued",
        attempt=run.attempt + 1,
        error=None,
        task_id=new_task_id(),
        enqueued=database_now(session),
        finished=None,
        worker=None,
        requeue_reason=None,
        handbacks=0,
        handback_cause=None,
    )
    sync_status(session, experiment)
    return run, Dispatch(run.id, str(run.task_id), experiment.priority, experiment.device)
