"""Reading runs in core.stats' form, exclusions, and stop_when_decided: shared by the API and
the workers.

The workers ask after each finished run whether the experiment's primary comparison is decided
(core.training.stopping); the API reports what stopping early saved. A researcher may exclude a run
(a
broken node, a bad data copy) with a reason: it is then left out of every statistic, and so its
repeat's pairs drop out of the paired comparisons, until it is included again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.spec import ExperimentSpec, parse_spec
from core.stats.exclusions import with_exclusions
from core.stats.summary import summarize
from core.training.stopping import DECIDED, decided_arms, savings
from store.clock import database_now
from store.db import Database
from store.models import Experiment, Run
from store.run_rows import core_run, rows_by_run, stats_runs
from store.runs import Conflict, lock_both, lock_experiment, sync_status
from store.states import transition


def runs_for_stats(
    session: Session,
    *,
    experiment_id: int,
    phase: str | None = None,
    split: str | None = None,
    done_only: bool = False,
) -> list[dict[str, Any]]:
    """The runs in the form core.stats.summary takes, with their metric rows (optionally filtered);
    excluded runs are left out."""
    runs = stats_runs(session, experiment_id=experiment_id)
    runs = [r for r in runs if r["status"] == "done" or not done_only]
    rows = rows_by_run(session, experiment_id=experiment_id, phase=phase, split=split,
                       run_ids=[r["id"] for r in runs] if done_only else None)
    return [{**core_run(run), "metrics": rows.get(run["id"], [])} for run in runs]


def exclude_run(session: Session, *, run_id: int, reason: str, by: str | None) -> Run:
    """Leave the run out of the statistics, recording why, who and when (a new reason replaces
    the old one)."""
    locked = lock_both(session, run_id)
    if locked is None:
        raise LookupError(f"run {run_id} not found")
    run = locked[1]
    run.excluded_reason, run.excluded_by = reason, by
    run.excluded_at = database_now(session)
    return run


def include_run(session: Session, *, run_id: int) -> Run:
    """Count an excluded run in the statistics again."""
    locked = lock_both(session, run_id)
    if locked is None:
        raise LookupError(f"run {run_id} not found")
    run = locked[1]
    if run.excluded_reason is None:
        raise Conflict(f"run {run_id} is not excluded; nothing to include")
    run.excluded_reason = run.excluded_by = run.excluded_at = None
    return run


def exclusions(session: Session, *, experiment_id: int) -> list[dict[str, Any]]:
    """The experiment's excluded runs: run id, arm, repeat, reason, by and at, in run order."""
    rows = session.execute(
        select(Run.id, Run.arm, Run.repeat, Run.excluded_reason, Run.excluded_by, Run.excluded_at)
        .where(Run.experiment_id == experiment_id, Run.excluded_reason.is_not(None))
        .order_by(Run.id)
    ).all()
    return [
        {"run_id": r.id, "arm": r.arm, "repeat": r.repeat, "reason": r.excluded_reason,
         "by": r.excluded_by, "at": r.excluded_at}
        for r in rows
    ]  # fmt: skip


def experiment_summary(
    session: Session, *, experiment_id: int, spec: ExperimentSpec, done_only: bool
) -> dict[str, Any]:
    """core.stats.summary.summarize over the main phase, with the excluded runs listed (and a
    note)."""
    runs = runs_for_stats(session, experiment_id=experiment_id, phase="main", done_only=done_only)
    summary = summarize(runs, baseline=spec.baseline, spec=spec)
    excluded = [{**run, "at": run["at"].isoformat()}
                for run in exclusions(session, experiment_id=experiment_id)]
    arms, baseline = [arm.name for arm in spec.arms], str(summary["baseline"] or "")
    return with_exclusions(summary, excluded, arms, baseline)


def stop_if_decided(db: Database, *, experiment_id: int) -> int:
    """With stop_when_decided, cancel the queued runs of each arm that may stop (all of them once
    every compared arm is decided; core.training.stopping.decided_arms, stored as their error);
    returns how many were cancelled."""
    with db.session() as session:  # read without the experiment's lock: other runs go on
        experiment = session.get(Experiment, experiment_id)
        if experiment is None:
            return 0
        spec = parse_spec(experiment.spec)
        if not spec.stop_when_decided:
            return 0
        # The rows the summary reads (every split of the main phase, finished runs), so the
        # selection rule sees the split it selects on whatever split the primary reports.
        runs = runs_for_stats(session, experiment_id=experiment_id, phase="main", done_only=True)
    # Anytime-valid: a decision on the pairs read a moment ago is as valid as on later ones.
    decided = decided_arms(spec, runs)
    if not decided:
        return 0
    with db.transaction() as session:
        locked = lock_experiment(session, experiment_id)
        if locked is None:
            return 0
        # Only queued runs: running ones finish, and their pairs still count.
        queued = session.scalars(
            select(Run).where(
                Run.experiment_id == experiment_id,
                Run.status == "queued",
                Run.arm.in_(list(decided)),
            )
        ).all()
        now = database_now(session)
        for run in queued:
            transition(run, "cancelled", finished=now, error=decided[run.arm])
        sync_status(session, locked)
        return len(queued)


def is_decided(error: str | None) -> bool:
    """Whether a run's stored reason says it was cancelled because the answer was known."""
    return (error or "").startswith(f"{DECIDED}:")


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
    reasons = list(dict.fromkeys(str(r.error) for r in decided))  # in arm mode, one per stop
    return {"reason": "; ".join(reasons), **savings(done, len(decided))}
