"""The search coordinator: each pass reads a search's stored trials and runs, judges the running
trials (Optuna's pruner on the paired difference so far), asks Optuna for new trials and queues
their runs, and when the trials are spent queues the confirmation on a new seed.

It keeps nothing between passes: the store is the source of truth, every decision is a function
of stored data (core.search.study), and each change commits in one transaction under the
search's row lock. So the coordinator may be killed at any moment; the next pass, on this worker
or another, carries on with the same trials. The worker holding the recovery lease runs a pass
every INITLAB_SWEEP_INTERVAL (worker/recovery.py).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from sqlalchemy import select

from core.search.objective import final_value, intermediate
from core.search.plans import confirmation_spec, top_trials, trial_spec
from core.search.space import fits
from core.search.study import FINISHED, StoredTrial, ask, can_ask, prune_replay
from core.spec import ExperimentSpec, parse_spec
from runqueue.app import publish_runs
from store import searches
from store.clock import database_now
from store.config import Settings
from store.db import Database
from store.models import Search, SearchTrial
from store.runs import Dispatch, create_experiment

log = logging.getLogger(__name__)
# Over-budget draws are told to the sampler and not run; past this many per trial, stop asking.
MAX_DRAWS_PER_TRIAL = 20


def live_searches(db: Database) -> list[int]:
    with db.session() as session:
        query = select(Search.id).where(Search.status.in_(searches.LIVE)).order_by(Search.id)
        return list(session.scalars(query))


def advance_all(db: Database, app: Celery, settings: Settings) -> None:
    """One pass over every live search; one search's error does not stop the others."""
    for search_id in live_searches(db):
        try:
            advance(db, app, settings, search_id)
        except Exception:
            log.exception("search %s: coordinator pass failed; the next pass tries again",
                          search_id)


def advance(db: Database, app: Celery, settings: Settings, search_id: int) -> str:
    """One pass over one search; returns its status after the pass."""
    with db.session() as session:
        search = session.get(Search, search_id)
        if search is None or search.status not in searches.LIVE:
            return "gone" if search is None else search.status
        spec, status = parse_spec(search.spec), search.status
        running = [t.number for t in searches.trials_of(session, search_id)
                   if t.state == "running"]
    if status == "confirming":
        return _follow_confirmation(db, search_id)
    for number in running:
        _judge(db, spec, search_id, number)
    dispatches = _ask_more(db, spec, search_id)
    publish_runs(app, settings, dispatches)
    if not dispatches:
        publish_runs(app, settings, _confirm_if_spent(db, spec, search_id))
    with db.session() as session:
        found = session.get(Search, search_id)
        return "gone" if found is None else found.status


def _judge(db: Database, spec: ExperimentSpec, search_id: int, number: int) -> None:
    """Prune, complete, fail or update one running trial from its runs and the baseline's."""
    with db.transaction() as session:
        search = searches.lock_search(session, search_id)
        if search is None or search.status != "running":
            return
        rows = searches.trials_of(session, search_id)
        row = next((r for r in rows if r.number == number), None)
        if row is None or row.state != "running":
            return
        broken = searches.broken_run(session, search.baseline_experiment_id)
        if broken is not None:
            searches.cancel_search(session, search, f"failed: the baseline's {broken}")
            search.status = "failed"
            return
        mine = searches.runs_by_repeat(session, row.experiment_id)
        base = searches.runs_by_repeat(session, search.baseline_experiment_id)
        _decide(session, spec, row, [searches.stored(r) for r in rows], mine, base)


def _decide(
    session: Any,
    spec: ExperimentSpec,
    row: SearchTrial,
    trials: list[StoredTrial],
    mine: dict[int, Any],
    base: dict[int, Any],
) -> None:
    assert spec.search is not None
    now = database_now(session)
    broken = searches.broken_run(session, row.experiment_id)
    if broken is not None:
        row.state, row.reason, row.finished = "failed", f"failed: {broken}", now
        searches.cancel_runs(session, row.experiment_id, row.reason)
        return
    steps = intermediate(mine, base, spec)
    current = searches.stored(row)
    current = StoredTrial(current.number, current.params, "running", None, steps,
                          current.system_attrs)
    pruned_at, attrs = prune_replay(spec, trials, current, spec.training.epochs)
    row.system_attrs = attrs
    if pruned_at is not None:
        value = steps[pruned_at]
        row.intermediate = {str(s): v for s, v in steps.items() if s <= pruned_at}
        row.state, row.value, row.finished = "pruned", value, now
        row.reason = (
            f"pruned: trial {row.number} at main epoch {pruned_at}: paired difference"
            f" {value:+.4g} is outside the best 1/{spec.search.pruning.reduction} at that rung"
            " (successive halving)"
        )
        searches.cancel_runs(session, row.experiment_id, row.reason)
        return
    row.intermediate = {str(s): v for s, v in steps.items()}
    done = len(mine) == spec.repeats and all(r["status"] == "done" for r in mine.values())
    if done and all(r["status"] == "done" for r in base.values()):
        final = final_value(mine, base, spec)
        if final is None:
            row.state, row.reason = "failed", "failed: no paired difference at equal compute"
        else:
            row.state, row.value = "complete", final
        row.finished = now


def _ask_more(db: Database, spec: ExperimentSpec, search_id: int) -> list[Dispatch]:
    """Ask Optuna for every trial the determinism rule and the budget allow now; queue them."""
    assert spec.search is not None
    dispatches: list[Dispatch] = []
    with db.transaction() as session:
        search = searches.lock_search(session, search_id)
        if search is None or search.status != "running":
            return []
        trials = [searches.stored(r) for r in searches.trials_of(session, search_id)]
        while _wants_more(spec, trials):
            number = len(trials)
            if not can_ask(trials, number, spec.search.parallel):
                break
            asked = ask(spec, trials, number)
            if fits(asked.params, spec):
                child = trial_spec(spec, number, asked.params)
                dispatches += searches.add_trial(session, search, asked, child)
            else:
                asked = StoredTrial(number, asked.params, "over_budget",
                                    system_attrs=asked.system_attrs)
                share = spec.search.budget.preprocess_share
                reason = f"over budget: its stages exceed {share:g} of the main-phase examples"
                searches.add_trial(session, search, asked, None, reason)
            trials.append(asked)
    return dispatches


def _ran(trials: list[StoredTrial]) -> int:
    return sum(t.state != "over_budget" for t in trials)


def _wants_more(spec: ExperimentSpec, trials: list[StoredTrial]) -> bool:
    assert spec.search is not None
    wanted = spec.search.budget.trials
    return _ran(trials) < wanted and len(trials) < wanted * MAX_DRAWS_PER_TRIAL


def _confirm_if_spent(db: Database, spec: ExperimentSpec, search_id: int) -> list[Dispatch]:
    """Once no more trials are wanted and none runs: queue the confirmation experiment."""
    with db.transaction() as session:
        search = searches.lock_search(session, search_id)
        if search is None or search.status != "running":
            return []
        trials = [searches.stored(r) for r in searches.trials_of(session, search_id)]
        if _wants_more(spec, trials) or any(t.state not in FINISHED for t in trials):
            return []
        top = top_trials(spec, trials)
        if not top:
            search.status, search.note = "failed", "no trial completed; nothing to confirm"
            search.finished = database_now(session)
            return []
        experiment, dispatches = create_experiment(
            session, spec=confirmation_spec(spec, top), priority=search.priority,
            owner=search.owner,
        )
        search.confirm_experiment_id, search.status = experiment.id, "confirming"
        log.info("search %s: confirming trials %s as experiment %s", search_id,
                 [t.number for t in top], experiment.id)
        return dispatches


def _follow_confirmation(db: Database, search_id: int) -> str:
    """A confirming search is done when its confirmation experiment has ended."""
    with db.transaction() as session:
        search = searches.lock_search(session, search_id)
        if search is None:
            return "gone"
        status = searches.experiment_status(session, search.confirm_experiment_id)
        if search.status == "confirming" and status in ("done", "cancelled", "failed"):
            search.status = "done" if status in ("done", "cancelled") else "failed"
            if status != "done":
                search.note = f"the confirmation experiment ended {status}"
            search.finished = database_now(session)
        return search.status
