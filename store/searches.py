"""Calibration searches in the store: the search, its shared baseline, its trials' experiments,
cancelling a pruned trial's runs with its reason, and the confirmation experiment.

Every trial is an experiment of its own (one arm, the search's seed and repeats) queued like any
other; the baseline arm is one more experiment, trained once: initial weights and data order
come from (seed, repeat) alone, so its run of repeat r pairs with every trial's run of repeat r.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.search.plans import baseline_spec
from core.search.study import StoredTrial
from core.spec import ExperimentSpec
from store.clock import database_now
from store.models import Experiment, Run, Search, SearchTrial
from store.results import runs_for_stats
from store.runs import Conflict, Dispatch, create_experiment, lock_experiment, sync_status
from store.states import sources, transition

LIVE = ("running", "confirming")


def create_search(
    session: Session, *, spec: ExperimentSpec, priority: int, owner: str | None
) -> tuple[Search, list[Dispatch]]:
    """Store the search and queue its baseline's runs (first: every trial pairs with them)."""
    baseline, dispatches = create_experiment(
        session, spec=baseline_spec(spec), priority=min(9, priority + 1), owner=owner
    )
    search = Search(
        name=spec.name,
        spec=spec.model_dump(mode="json", exclude_none=True),
        status="running",
        priority=priority,
        owner=owner,
        created=database_now(session),
        baseline_experiment_id=baseline.id,
    )
    session.add(search)
    session.flush()
    return search, dispatches


def refuse_curation_while_searching(session: Session, run_id: int) -> None:
    """Conflict when the run belongs to a live search (its baseline, a trial or the
    confirmation): excluding or including a run there would change the objective of trials
    already judged, and a trial short of a run would never complete."""
    experiment_id = session.scalar(select(Run.experiment_id).where(Run.id == run_id))
    if experiment_id is None:
        return  # no such run: the route's own lookup says 404
    trial = select(SearchTrial.search_id).where(SearchTrial.experiment_id == experiment_id)
    search_id = session.scalar(
        select(Search.id).where(
            Search.status.in_(LIVE),
            (Search.baseline_experiment_id == experiment_id)
            | (Search.confirm_experiment_id == experiment_id)
            | Search.id.in_(trial),
        )
    )
    if search_id is not None:
        raise Conflict(
            f"run {run_id} belongs to search {search_id}, which is still running; exclude or"
            " include it once the search has ended (or cancel the search)"
        )


def lock_search(session: Session, search_id: int) -> Search | None:
    """The search, row-locked (PostgreSQL) so two coordinators cannot both change it."""
    query = select(Search).where(Search.id == search_id).with_for_update()
    return session.scalars(query.execution_options(populate_existing=True)).one_or_none()


def stored(trial: SearchTrial) -> StoredTrial:
    """A trial row as core.search knows trials."""
    return StoredTrial(
        number=trial.number,
        params=dict(trial.params),
        state=trial.state,
        value=trial.value,
        intermediate={int(step): float(v) for step, v in (trial.intermediate or {}).items()},
        system_attrs=dict(trial.system_attrs or {}),
    )


def trials_of(session: Session, search_id: int) -> list[SearchTrial]:
    query = select(SearchTrial).where(SearchTrial.search_id == search_id)
    return list(session.scalars(query.order_by(SearchTrial.number)))


def add_trial(
    session: Session,
    search: Search,
    trial: StoredTrial,
    spec: ExperimentSpec | None,
    reason: str | None = None,
) -> list[Dispatch]:
    """Store an asked trial; with `spec`, queue its runs (else it is over budget, none run)."""
    row = SearchTrial(
        search_id=search.id,
        number=trial.number,
        params=trial.params,
        state=trial.state,
        intermediate={},
        system_attrs=trial.system_attrs,
        reason=reason,
        created=database_now(session),
    )
    dispatches: list[Dispatch] = []
    if spec is not None:
        experiment, dispatches = create_experiment(
            session, spec=spec, priority=search.priority, owner=search.owner
        )
        row.experiment_id = experiment.id
    else:
        row.finished = row.created
    session.add(row)
    session.flush()
    return dispatches


def runs_by_repeat(session: Session, experiment_id: int | None) -> dict[int, dict[str, Any]]:
    """The experiment's runs (with their main-phase rows) by repeat."""
    if experiment_id is None:
        return {}
    runs = runs_for_stats(session, experiment_id=experiment_id, phase="main")
    return {int(run["repeat"]): run for run in runs}


def broken_run(session: Session, experiment_id: int | None) -> str | None:
    """A line naming the first failed or cancelled run of an experiment, or None."""
    if experiment_id is None:
        return None
    query = select(Run).where(
        Run.experiment_id == experiment_id, Run.status.in_(("failed", "cancelled"))
    )
    run = session.scalars(query.order_by(Run.id)).first()
    if run is None:
        return None
    return f"run {run.id} (repeat {run.repeat}) {run.status}: {run.error or 'no reason given'}"


def cancel_runs(session: Session, experiment_id: int | None, reason: str) -> int:
    """Cancel the experiment's queued and running runs, `reason` stored as their error; a
    running owner is fenced by the status change and stops at its next batch."""
    experiment = None if experiment_id is None else lock_experiment(session, experiment_id)
    if experiment is None:
        return 0
    query = select(Run).where(
        Run.experiment_id == experiment.id, Run.status.in_(sources("cancelled"))
    )
    now = database_now(session)
    live = session.scalars(query.with_for_update()).all()
    for run in live:
        transition(run, "cancelled", finished=now, error=reason)
    sync_status(session, experiment)
    return len(live)


def experiment_status(session: Session, experiment_id: int | None) -> str | None:
    if experiment_id is None:
        return None
    experiment = session.get(Experiment, experiment_id)
    return None if experiment is None else experiment.status


def cancel_search(session: Session, search: Search, reason: str) -> int:
    """End a (locked) search: every queued or running run of it cancelled with `reason`."""
    count = cancel_runs(session, search.baseline_experiment_id, reason)
    count += cancel_runs(session, search.confirm_experiment_id, reason)
    for trial in trials_of(session, search.id):
        count += cancel_runs(session, trial.experiment_id, reason)
        if trial.state == "running":
            trial.state, trial.reason = "failed", reason
            trial.finished = database_now(session)
    search.status, search.note = "cancelled", reason
    search.finished = database_now(session)
    return count


def experiment_spec(session: Session, experiment_id: int) -> dict[str, Any]:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise LookupError(f"experiment {experiment_id} not found")
    return dict(experiment.spec)
