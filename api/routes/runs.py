"""/runs/{id}: one run, its tags and notes, cancelling and retrying it, and excluding it from
the statistics (or including it again)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from api.deps import (
    Authorized,
    CeleryDep,
    CurrentPrincipal,
    DatabaseDep,
    OwnRun,
    RunId,
    SessionDep,
    SettingsDep,
)
from api.routes.curation import annotate
from api.schemas import RunPublic, RunUpdate
from runqueue.app import publish_runs
from store import results, runs, searches
from store.db import Database
from store.models import Run

router = APIRouter(prefix="/runs", tags=["runs"], dependencies=[Authorized])


class Exclusion(BaseModel):
    """Why a run is left out of the statistics (required) and, optionally, who says so."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=1000, description="e.g. 'node gpu-7 is broken'")
    by: str | None = Field(None, max_length=255, description="who excludes it")


def _not_found(run_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"run {run_id} not found")


@contextmanager
def _changing(db: Database, run_id: int) -> Iterator[Session]:
    """A transaction on run `run_id`: no such run is a 404, a state that forbids it a 409."""
    try:
        with db.transaction() as session:
            yield session
    except LookupError:
        raise _not_found(run_id) from None
    except runs.Conflict as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None


@router.get("/{run_id}", response_model=RunPublic)
def read_run(run_id: RunId, session: SessionDep) -> Run:
    """One run with its status, progress, worker, environment and error."""
    run = session.get(Run, run_id)
    if run is None:
        raise _not_found(run_id)
    return run


@router.patch("/{run_id}", response_model=RunPublic, dependencies=[OwnRun])
def update_run(run_id: RunId, changes: RunUpdate, db: DatabaseDep) -> Run:
    """Retag or annotate a run; fields left out stay as they are. Curation only: the results
    version, tables and statistics do not change (an excluded run stays excluded)."""
    with _changing(db, run_id) as session:
        run = runs.lock_run(session, run_id)
        if run is None:
            raise LookupError(run_id)
        annotate(run, changes)
        return run


@router.post("/{run_id}/cancel", response_model=RunPublic, dependencies=[OwnRun])
def cancel_run(run_id: RunId, db: DatabaseDep) -> Run:
    """Cancel one queued or running run: a queued one never starts, a running one stops soon.

    409 for a run that already finished (done, failed or cancelled).
    """
    with _changing(db, run_id) as session:
        return runs.cancel_run(session, run_id=run_id)


@router.post("/{run_id}/retry", response_model=RunPublic, dependencies=[OwnRun])
def retry_run(
    run_id: RunId,
    db: DatabaseDep,
    celery: CeleryDep,
    settings: SettingsDep,
    fresh: Annotated[bool, Query(description="drop checkpoint and metrics; start over")] = False,
) -> Run:
    """Queue a failed or cancelled run again (attempt + 1); it resumes from its checkpoint."""
    with _changing(db, run_id) as session:
        run, dispatch = runs.retry_run(session, run_id=run_id, fresh=fresh)
    publish_runs(celery, settings, [dispatch])
    return run


@router.post("/{run_id}/exclude", response_model=RunPublic, dependencies=[OwnRun])
def exclude_run(
    run_id: RunId, exclusion: Exclusion, db: DatabaseDep, principal: CurrentPrincipal
) -> Run:
    """Leave the run out of every table and statistic (its repeat's pairs drop out of the
    paired comparisons), recording why, who and when; excluding again replaces the reason.

    Who is the signed-in user; `by` is used only where there are no accounts."""
    by = principal.name or exclusion.by or None
    with _changing(db, run_id) as session:
        searches.refuse_curation_while_searching(session, run_id)
        return results.exclude_run(session, run_id=run_id, reason=exclusion.reason, by=by)


@router.post("/{run_id}/include", response_model=RunPublic, dependencies=[OwnRun])
def include_run(run_id: RunId, db: DatabaseDep) -> Run:
    """Undo an exclusion: the run counts in the statistics again (409 if it is not excluded)."""
    with _changing(db, run_id) as session:
        searches.refuse_curation_while_searching(session, run_id)
        return results.include_run(session, run_id=run_id)
