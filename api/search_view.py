"""A stored search as the API shows it: its trials, what pruning saved, and the confirmation's
estimates beside the search's own."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.search.report import confirmation, counts, trial_rows
from core.spec import ExperimentSpec, parse_spec
from core.stats.records import group
from core.stats.summary import primary_sequence
from store import searches
from store.models import Run, Search
from store.results import runs_for_stats


def run_epochs(session: Session, experiment_ids: list[int]) -> dict[str, int]:
    """Main-phase run-epochs the trials trained, and what they would have without pruning."""
    if not experiment_ids:
        return {"trained": 0, "runs": 0}
    query = select(Run.last_phase, Run.last_epoch).where(Run.experiment_id.in_(experiment_ids))
    rows = session.execute(query).all()
    trained = sum(int(r.last_epoch or 0) for r in rows if r.last_phase == "main")
    return {"trained": trained, "runs": len(rows)}


def _confirmation(session: Session, search: Search, spec: ExperimentSpec,
                  trials: list[Any]) -> dict[str, Any] | None:
    experiment_id = search.confirm_experiment_id
    if experiment_id is None:
        return None
    runs = runs_for_stats(session, experiment_id=experiment_id, phase="main")
    confirm_spec = parse_spec(searches.experiment_spec(session, experiment_id))
    done = [r for r in runs if r["status"] == "done"]
    return {
        "experiment_id": experiment_id,
        "status": searches.experiment_status(session, experiment_id),
        "seed": confirm_spec.seed,
        "arms": confirmation(spec, trials, group(done), primary_sequence(done, confirm_spec)),
    }


def search_detail(session: Session, search: Search) -> dict[str, Any]:
    """Everything GET /searches/{id} answers."""
    spec = parse_spec(search.spec)
    assert spec.search is not None
    rows = searches.trials_of(session, search.id)
    trials = [searches.stored(r) for r in rows]
    listed = trial_rows(spec, trials)
    for shown, row in zip(listed, rows, strict=True):
        shown.update(experiment_id=row.experiment_id, reason=row.reason)
    epochs = run_epochs(session, [r.experiment_id for r in rows if r.experiment_id])
    epochs["full"] = epochs["runs"] * spec.training.epochs
    return {
        **search_brief(search),
        "spec": search.spec,
        "direction": "minimize" if spec.primary.metric == "loss" else "maximize",
        "objective": f"{spec.primary.split} {spec.primary.metric}: {spec.search.arm} minus"
        f" {spec.baseline}, paired by repeat, at equal compute",
        "trials": listed,
        "counts": counts(trials),
        "main_run_epochs": epochs,
        "confirmation": _confirmation(session, search, spec, trials),
    }


def search_brief(search: Search) -> dict[str, Any]:
    return {
        "id": search.id,
        "name": search.name,
        "status": search.status,
        "note": search.note,
        "owner": search.owner,
        "created": search.created,
        "finished": search.finished,
        "baseline_experiment_id": search.baseline_experiment_id,
        "confirm_experiment_id": search.confirm_experiment_id,
    }
