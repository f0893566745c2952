"""The API's read queries, keyword-only; writes that change runs live in store/runs.py."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.phase_order import ordered_phases
from store.models import Experiment, Metric, Run
from store.runs import METRIC_FIELDS


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
        select(Run.id, Run.status, Run.task_id, Run.attempt, Run.finished, Run.excluded_at)
        .where(Run.experiment_id == experiment_id)
        .order_by(Run.id)
    ).all()
    if done_only:  # an exclusion changes every figure: excluded_at is part of the version
        return tuple(
            (r.id, r.attempt, r.finished, r.excluded_at) for r in runs if r.status == "done"
        )
    count, last = session.execute(
        select(func.count(), func.max(Metric.id)).where(Metric.experiment_id == experiment_id)
    ).one()
    return (count, last, tuple(tuple(r) for r in runs))
