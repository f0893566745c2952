"""The API's read queries, keyword-only; writes that change runs live in store/runs.py."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from core.phase_order import ordered_phases
from store.models import Experiment, Metric, Run
from store.run_rows import last_metric_id
from store.runs import METRIC_FIELDS, derive_status, run_outcome

Archived = Literal["false", "true", "all"]


@dataclass(frozen=True)
class ExperimentFilter:
    """GET /experiments' filters; None (or "all") leaves a filter out."""

    status: str | None = None
    name_contains: str | None = None
    tag: str | None = None
    owner: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    archived: Archived = "false"


# sort name -> ORDER BY; ties fall back to the id in the same direction.
SORTS: dict[str, tuple[Any, ...]] = {
    "created_at": (Experiment.created.asc(), Experiment.id.asc()),
    "-created_at": (Experiment.created.desc(), Experiment.id.desc()),
    "name": (Experiment.name.asc(), Experiment.id.asc()),
    "-name": (Experiment.name.desc(), Experiment.id.desc()),
    "id": (Experiment.id.asc(),),
    "-id": (Experiment.id.desc(),),
}


def _like_escaped(text: str) -> str:
    """`text` as a LIKE pattern that matches it literally anywhere (escape character \\)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _has_tag(session: Session, tag: str) -> Any:
    """A WHERE clause: the experiment's JSON tag list holds `tag`."""
    if session.get_bind().dialect.name == "postgresql":
        return type_coerce(Experiment.tags, JSONB).contains([tag])
    values = func.json_each(Experiment.tags).table_valued("value")
    return exists(select(1).select_from(values).where(values.c.value == tag))


def _filtered(session: Session, where: ExperimentFilter) -> Select[Any]:
    query = select(Experiment)
    if where.archived != "all":
        archived = Experiment.archived_at.is_not(None)
        query = query.where(archived if where.archived == "true" else ~archived)
    if where.status:
        query = query.where(Experiment.status == where.status)
    if where.name_contains:
        pattern = _like_escaped(where.name_contains.lower())
        query = query.where(func.lower(Experiment.name).like(pattern, escape="\\"))
    if where.tag:
        query = query.where(_has_tag(session, where.tag))
    if where.owner:
        query = query.where(Experiment.owner == where.owner)
    if where.created_after:
        query = query.where(Experiment.created >= where.created_after)
    if where.created_before:
        query = query.where(Experiment.created < where.created_before)
    return query


def list_experiments(
    session: Session, *, where: ExperimentFilter, sort: str, limit: int, offset: int
) -> tuple[list[Experiment], int]:
    """A page of the experiments that match, in `sort` order, and how many match in all."""
    query = _filtered(session, where)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = session.scalars(query.order_by(*SORTS[sort]).limit(limit).offset(offset)).all()
    return list(page), total


def runs_page(
    session: Session, *, experiment_id: int, limit: int, offset: int
) -> tuple[list[Run], int]:
    """A page of an experiment's runs in id order, and how many it has."""
    mine = Run.experiment_id == experiment_id
    total = session.scalar(select(func.count()).where(mine)) or 0
    page = session.scalars(select(Run).where(mine).order_by(Run.id).limit(limit).offset(offset))
    return list(page), total


def sweeps_page(session: Session, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """A page of sweeps, newest first: id, created, experiments, and run counts by status."""
    grouped = (
        select(
            Experiment.sweep_id,
            func.min(Experiment.created).label("created"),
            func.count().label("experiments"),
        )
        .where(Experiment.sweep_id.is_not(None))
        .group_by(Experiment.sweep_id)
    )
    total = session.scalar(select(func.count()).select_from(grouped.subquery())) or 0
    rows = session.execute(
        grouped.order_by(func.min(Experiment.created).desc(), Experiment.sweep_id)
        .limit(limit)
        .offset(offset)
    ).all()
    counts: dict[str, Counter[str]] = {row.sweep_id: Counter() for row in rows}
    outcome = run_outcome()  # a sweep whose experiments were decided early is done
    by_status = session.execute(
        select(Experiment.sweep_id, outcome, func.count())
        .join(Run, Run.experiment_id == Experiment.id)
        .where(Experiment.sweep_id.in_(list(counts)))
        .group_by(Experiment.sweep_id, outcome)
    ).all()
    for sweep_id, status, n in by_status:
        counts[str(sweep_id)][status] = n
    items = [
        {
            "id": row.sweep_id,
            "status": derive_status(counts[row.sweep_id]),
            "created": row.created,
            "experiments": row.experiments,
            "runs_total": sum(counts[row.sweep_id].values()),
            "runs_done": counts[row.sweep_id]["done"],
        }
        for row in rows
    ]
    return items, total


def sweep_outcomes(session: Session, sweep_id: str) -> Counter[str]:
    """The sweep's runs counted by outcome (store.runs.run_outcome), for its status."""
    outcome = run_outcome()
    rows = session.execute(
        select(outcome, func.count())
        .join(Experiment, Run.experiment_id == Experiment.id)
        .where(Experiment.sweep_id == sweep_id)
        .group_by(outcome)
    ).all()
    return Counter({status: n for status, n in rows})


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
    checkpoint's rows), so metric rows change only by new ids, seen in the largest id (one
    step down an index, where counting the rows read all of them), or by a fresh retry's
    delete, which raises the run's attempt in the same transaction. A done run's rows never
    change at all, so figures of done runs depend only on which runs are done.
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
    last = last_metric_id(session, experiment_id=experiment_id)
    return (last, tuple(tuple(r) for r in runs))
