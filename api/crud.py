"""Store operations of the API, keyword-only; the worker's writes live in worker/store.py."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from api.models import Experiment, Metric, Run, utcnow
from core.phase_order import ordered_phases
from core.spec import ExperimentSpec, spec_to_json
from core.stopping import DECIDED, savings

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


# What runs_for_stats reads of a metric row: what core.stats, curves and equal compute use.
STATS_FIELDS = (
    "phase", "epoch", "split", "loss", "accuracy", "lr", "examples", "examples_total",
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


def new_task_id() -> str:
    return str(uuid.uuid4())


def derive_status(counts: Counter[str]) -> str:
    """An experiment's status from its runs' statuses."""
    total = sum(counts.values())
    if counts["running"] or (counts["queued"] and counts["queued"] < total):
        return "running"
    if counts["queued"]:
        return "queued"
    if total and counts["done"] == total:
        return "done"
    return "failed" if counts["failed"] else "cancelled"


def lock_experiment(session: Session, experiment_id: int) -> Experiment | None:
    """The experiment, row-locked (PostgreSQL) so concurrent run updates serialise on it."""
    query = select(Experiment).where(Experiment.id == experiment_id).with_for_update()
    return session.scalars(query).one_or_none()


def sync_status(session: Session, experiment: Experiment) -> str:
    """Recompute and store the status of a (locked) experiment from its runs."""
    rows = session.execute(
        select(Run.status, func.count())
        .where(Run.experiment_id == experiment.id)
        .group_by(Run.status)
    ).all()
    experiment.status = derive_status(Counter({status: n for status, n in rows}))
    return experiment.status


def create_experiment(
    session: Session, *, spec: ExperimentSpec, priority: int, sweep_id: str | None = None
) -> tuple[Experiment, list[Dispatch]]:
    """Store the experiment and one queued run per (arm, repeat)."""
    now = utcnow()
    experiment = Experiment(
        name=spec.name,
        spec=spec_to_json(spec),
        status="queued",
        priority=priority,
        created=now,
        sweep_id=sweep_id,
    )
    experiment.runs = [
        Run(
            arm=arm,
            repeat=repeat,
            seed=spec.seed,
            status="queued",
            attempt=1,
            requeues=0,
            task_id=new_task_id(),
            enqueued=now,
        )
        for arm, repeat in spec.run_keys()
    ]
    session.add(experiment)
    session.flush()
    dispatches = [Dispatch(run.id, str(run.task_id), priority) for run in experiment.runs]
    return experiment, dispatches


def list_experiments(
    session: Session, *, status: str | None, limit: int, offset: int
) -> tuple[list[Experiment], int]:
    """A page of experiments, newest first, and the total that match."""
    query = select(Experiment)
    if status:
        query = query.where(Experiment.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(Experiment.id.desc()).limit(limit).offset(offset)).all()
    return list(page), total


def run_counts(session: Session, experiment_ids: list[int]) -> dict[int, Counter[str]]:
    """Run statuses counted per experiment."""
    counts: dict[int, Counter[str]] = {i: Counter() for i in experiment_ids}
    rows = session.execute(
        select(Run.experiment_id, Run.status, func.count())
        .where(Run.experiment_id.in_(experiment_ids))
        .group_by(Run.experiment_id, Run.status)
    ).all()
    for experiment_id, status, n in rows:
        counts[experiment_id][status] = n
    return counts


def runs_of(session: Session, experiment_id: int) -> list[Run]:
    return list(
        session.scalars(
            select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)
        ).all()
    )


def metrics_after(
    session: Session, *, experiment_id: int, after: int, limit: int
) -> list[dict[str, Any]]:
    """Metric rows with id > after, oldest first, each with its run's arm and repeat."""
    rows = session.execute(
        select(Metric, Run.arm, Run.repeat)
        .join(Run, Metric.run_id == Run.id)
        .where(Metric.experiment_id == experiment_id, Metric.id > after)
        .order_by(Metric.id)
        .limit(limit)
    ).all()
    return [
        {
            "id": m.id,
            "run_id": m.run_id,
            "arm": arm,
            "repeat": repeat,
            **{f: getattr(m, f) for f in METRIC_FIELDS},
        }
        for m, arm, repeat in rows
    ]


def runs_for_stats(
    session: Session,
    *,
    experiment_id: int,
    phase: str | None = None,
    split: str | None = None,
    done_only: bool = False,
) -> list[dict[str, Any]]:
    """The runs in the form core.stats takes, with their metric rows (optionally filtered).

    Rows are read as plain columns, not ORM objects (several times faster for an experiment's
    50,000 rows), and carry only what core.stats reads; ix_metric_experiment_id_phase_split
    serves the filters.
    """
    runs = [r for r in runs_of(session, experiment_id) if r.status == "done" or not done_only]
    columns = [getattr(Metric, field) for field in STATS_FIELDS]
    query = select(Metric.run_id, *columns).where(Metric.experiment_id == experiment_id)
    if phase:
        query = query.where(Metric.phase == phase)
    if split:
        query = query.where(Metric.split == split)
    if done_only:
        query = query.where(Metric.run_id.in_([r.id for r in runs]))
    by_run: dict[int, list[dict[str, Any]]] = {run.id: [] for run in runs}
    for run_id, *values in session.execute(query):
        by_run[run_id].append(dict(zip(STATS_FIELDS, values, strict=True)))
    return [
        {
            "arm": r.arm,
            "repeat": r.repeat,
            "seed": r.seed,
            "init_fingerprint": r.init_fingerprint,
            "status": r.status,
            "wall_seconds": r.wall_seconds or {},
            "metrics": by_run[r.id],
        }
        for r in runs
    ]


def phases_of(session: Session, *, experiment_id: int) -> list[str]:
    """The distinct phases of an experiment's metric rows, in training order."""
    query = select(Metric.phase).where(Metric.experiment_id == experiment_id).distinct()
    return ordered_phases(session.scalars(query))


def results_version(session: Session, *, experiment_id: int, done_only: bool = False) -> Any:
    """What the experiment's results depend on: equal versions give equal summaries and curves.

    A recorded epoch is never rewritten with other values (a resumed run replays its own
    checkpoint's rows), so metric rows change only by new ids or by a fresh retry's delete,
    both seen in (count, max id). A done run's rows never change at all, so figures of done
    runs depend only on which runs are done.
    """
    runs = session.execute(
        select(Run.id, Run.status, Run.task_id, Run.attempt, Run.finished)
        .where(Run.experiment_id == experiment_id)
        .order_by(Run.id)
    ).all()
    if done_only:
        return tuple((r.id, r.attempt, r.finished) for r in runs if r.status == "done")
    count, last = session.execute(
        select(func.count(), func.max(Metric.id)).where(Metric.experiment_id == experiment_id)
    ).one()
    return (count, last, tuple(tuple(r) for r in runs))


def cancel_experiment(
    session: Session,
    *,
    experiment: Experiment,
    statuses: tuple[str, ...] = ("queued", "running"),
    reason: str | None = None,
) -> int:
    """Cancel the runs of a locked experiment in `statuses` (storing `reason` as their error,
    e.g. core.stopping's 'decided: …'); returns how many."""
    result = session.execute(
        update(Run)
        .where(Run.experiment_id == experiment.id, Run.status.in_(statuses))
        .values(status="cancelled", finished=utcnow(), error=reason)
        .execution_options(synchronize_session=False)
    )
    sync_status(session, experiment)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def stopped_early(session: Session, *, experiment_id: int) -> dict[str, Any] | None:
    """Why and how much stop_when_decided saved: the reason, runs cancelled as decided, and
    worker hours estimated from the mean duration of the finished runs; None if it never did."""
    rows = session.execute(
        select(Run.status, Run.error, Run.started, Run.finished).where(
            Run.experiment_id == experiment_id
        )
    ).all()
    decided = [r for r in rows if r.status == "cancelled" and is_decided(r.error)]
    if not decided:
        return None
    done = [
        (r.finished - r.started).total_seconds()
        for r in rows
        if r.status == "done" and r.started and r.finished
    ]
    return {"reason": decided[0].error, **savings(done, len(decided))}


def is_decided(error: str | None) -> bool:
    """Whether a run's stored reason says it was cancelled because the answer was known."""
    return (error or "").startswith(f"{DECIDED}:")


def retry_run(session: Session, *, run: Run, fresh: bool) -> Dispatch:
    """Queue a failed or cancelled run again as a new attempt (resuming unless `fresh`)."""
    experiment = lock_experiment(session, run.experiment_id)
    assert experiment is not None
    session.refresh(run)  # re-read under the experiment's lock
    if run.status not in ("failed", "cancelled"):
        raise Conflict(
            f"run {run.id} is {run.status}; only failed or cancelled runs can be retried"
        )
    if fresh:
        session.execute(delete(Metric).where(Metric.run_id == run.id))
        if run.checkpoint:
            Path(run.checkpoint).unlink(missing_ok=True)
        run.last_phase = run.last_epoch = None
    run.status, run.attempt, run.error = "queued", run.attempt + 1, None
    run.task_id, run.enqueued, run.finished, run.worker = new_task_id(), utcnow(), None, None
    sync_status(session, experiment)
    return Dispatch(run.id, run.task_id, experiment.priority)


def fresh_since(seconds: float) -> datetime:
    """The moment `seconds` ago, for heartbeat comparisons."""
    return utcnow() - timedelta(seconds=seconds)
