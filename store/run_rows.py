"""An experiment's runs and metric rows in core.stats' form, read whole or only where they changed.

A live experiment of a thousand runs gains a few rows a second; re-reading its 400,000 rows to
redraw a chart costs seconds. Metric ids grow with every insert (per experiment they commit in
order: PostgreSQL writers hold the experiment's advisory lock, store.executions.record_epoch),
so the runs with rows newer than a remembered id are exactly the runs whose rows grew. A fresh
retry deletes a run's rows in the transaction that raises its attempt, so (run id, attempt)
names one set of rows that only ever grows.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store.models import Metric, Run

# What a metric row carries for core.stats.summary, curves and equal compute.
STATS_FIELDS = (
    "phase", "epoch", "split", "loss", "accuracy", "lr", "examples", "examples_total",
    "seconds_total",
)  # fmt: skip
RUN_FIELDS = ("arm", "repeat", "seed", "init_fingerprint", "status", "wall_seconds")
STORE_KEYS = ("id", "attempt")


def stats_runs(
    session: Session, *, experiment_id: int, fields: tuple[str, ...] = RUN_FIELDS
) -> list[dict[str, Any]]:
    """The experiment's runs that count (not excluded) in id order, in core.stats' form without
    their rows (`fields` of them), plus `id` and `attempt`."""
    query = (
        select(Run.id, Run.attempt, *(getattr(Run, f) for f in fields))
        .where(Run.experiment_id == experiment_id, Run.excluded_reason.is_(None))
        .order_by(Run.id)
    )
    runs = [dict(row._mapping) for row in session.execute(query)]
    if "wall_seconds" in fields:
        for run in runs:
            run["wall_seconds"] = run["wall_seconds"] or {}
    return runs


def core_run(run: dict[str, Any]) -> dict[str, Any]:
    """A stats_runs run without the store's own keys (id, attempt), as core.stats.summary knows
    runs."""
    return {field: value for field, value in run.items() if field not in STORE_KEYS}


def last_metric_id(session: Session, *, experiment_id: int) -> int:
    """The experiment's largest metric id (0 without rows): one step down its index."""
    last = session.scalar(select(func.max(Metric.id)).where(Metric.experiment_id == experiment_id))
    return int(last or 0)


def runs_with_rows_after(session: Session, *, experiment_id: int, after: int) -> set[int]:
    """The runs that have a metric row with an id above `after` (only the newer rows are read)."""
    query = select(Metric.run_id).where(Metric.experiment_id == experiment_id, Metric.id > after)
    return set(session.scalars(query.distinct()))


def rows_by_run(
    session: Session,
    *,
    experiment_id: int,
    run_ids: Collection[int] | None = None,
    phase: str | None = None,
    split: str | None = None,
) -> dict[int, list[dict[str, Any]]]:
    """Metric rows per run (all of the experiment's runs, or `run_ids`), optionally of one phase
    and split. Rows are read as plain columns, not ORM objects (several times faster); `run_ids`
    must be runs of the experiment."""
    columns = [getattr(Metric, field) for field in STATS_FIELDS]
    query = select(Metric.run_id, *columns)
    # A few runs' rows come by the (run, phase, epoch, split) key; naming the experiment too
    # lets SQLite walk the experiment's index over every run's rows instead.
    if run_ids is not None:
        query = query.where(Metric.run_id.in_(list(run_ids)))
    else:
        query = query.where(Metric.experiment_id == experiment_id)
    if phase:
        query = query.where(Metric.phase == phase)
    if split:
        query = query.where(Metric.split == split)
    by_run: dict[int, list[dict[str, Any]]] = {}
    for run_id, *values in session.execute(query):
        by_run.setdefault(run_id, []).append(dict(zip(STATS_FIELDS, values, strict=True)))
    return by_run
