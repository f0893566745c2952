"""/experiments/{id}: edit name, tags and notes; archive and restore (nothing is ever erased).

`annotate` also serves PATCH /runs/{id} (api/routes/runs.py): one rule for both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, status
from sqlalchemy.orm import Session

from api.deps import Authorized, DatabaseDep, ExperimentId, OwnExperiment
from api.routes.experiments import experiment_detail
from api.schemas import Annotation, ExperimentDetail, ExperimentUpdate
from store import runs
from store.clock import database_now
from store.db import Database
from store.models import Experiment, Run

router = APIRouter(prefix="/experiments", tags=["experiments"], dependencies=[Authorized])

ACTIVE = ("queued", "running")


def annotate(target: Experiment | Run, changes: Annotation) -> None:
    """Replace the tags and notes given (tags each once, in order; '' clears the notes)."""
    if changes.tags is not None:
        target.tags = list(dict.fromkeys(changes.tags))
    if changes.notes is not None:
        target.notes = changes.notes or None


def _locked(session: Session, experiment_id: int) -> Experiment:
    experiment = runs.lock_experiment(session, experiment_id)
    if experiment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"experiment {experiment_id} not found")
    return experiment


def _change(
    db: Database, experiment_id: int, change: Callable[[Session, Experiment], None]
) -> dict[str, Any]:
    """Apply `change` to the locked experiment and answer with the experiment as it is now."""
    with db.transaction() as session:
        change(session, _locked(session, experiment_id))
        session.flush()
        return experiment_detail(session, experiment_id)


@router.patch("/{experiment_id}", response_model=ExperimentDetail, dependencies=[OwnExperiment])
def update_experiment(
    experiment_id: ExperimentId, changes: ExperimentUpdate, db: DatabaseDep
) -> dict[str, Any]:
    """Rename, retag or annotate an experiment; fields left out stay as they are."""

    def update(_session: Session, experiment: Experiment) -> None:
        if changes.name is not None:
            experiment.name = changes.name
        annotate(experiment, changes)

    return _change(db, experiment_id, update)


@router.post(
    "/{experiment_id}/archive", response_model=ExperimentDetail, dependencies=[OwnExperiment]
)
def archive_experiment(experiment_id: ExperimentId, db: DatabaseDep) -> dict[str, Any]:
    """Hide a finished experiment from lists (kept whole; see ?archived=); 409 while it runs."""

    def archive(session: Session, experiment: Experiment) -> None:
        if experiment.status in ACTIVE:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                f"experiment {experiment_id} is {experiment.status}; cancel it or let it finish "
                "before archiving",
            )
        if experiment.archived_at is None:
            experiment.archived_at = database_now(session)

    return _change(db, experiment_id, archive)


@router.post(
    "/{experiment_id}/restore", response_model=ExperimentDetail, dependencies=[OwnExperiment]
)
def restore_experiment(experiment_id: ExperimentId, db: DatabaseDep) -> dict[str, Any]:
    """Bring an archived experiment back into the lists (a no-op for one that is not)."""

    def restore(_session: Session, experiment: Experiment) -> None:
        experiment.archived_at = None

    return _change(db, experiment_id, restore)
