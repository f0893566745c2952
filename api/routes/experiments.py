"""/experiments: submit, list, show, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import crud
from api.crud import Archived, ExperimentFilter
from api.deps import (
    API_PREFIX,
    MAX_ID,
    Authorized,
    DatabaseDep,
    ExperimentId,
    MemberOnly,
    OwnExperiment,
    SessionDep,
)
from api.progress import progress
from api.schemas import MAX_TAG, CancelResponse, ExperimentDetail, ExperimentPage, SubmitResponse
from api.submit import SPEC_BODY, SUBMIT_RESPONSES, SubmitDep, accept
from core.spec import ExperimentSpec, parse_spec
from store import results, runs
from store.config import get_settings
from store.models import Experiment, ExperimentStatus, Run
from store.workers import live_workers, waiting_for

router = APIRouter(prefix="/experiments", tags=["experiments"], dependencies=[Authorized])

Sort = Literal["created_at", "-created_at", "name", "-name", "id", "-id"]


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    """The experiment, or 404 naming the id."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"experiment {experiment_id} not found")
    return experiment


def spec_of(experiment: Experiment) -> ExperimentSpec:
    return parse_spec(experiment.spec)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmitResponse,
    responses=SUBMIT_RESPONSES,
    openapi_extra=SPEC_BODY,
    dependencies=[MemberOnly],
)
def submit_experiment(call: SubmitDep) -> Any:
    """Validate a spec (JSON or YAML), store one experiment per sweep point and queue its runs.

    201 with Location /api/v1/experiments/{id}. With an Idempotency-Key, a retry of the same
    request returns the first answer and queues nothing; the key with another request is 422.
    """
    return accept(call, locate=lambda answer: f"{API_PREFIX}/experiments/{answer.id}")


def public_experiments(session: Session, experiments: list[Experiment]) -> list[dict[str, Any]]:
    """Experiments with spec and progress; two queries for the whole page."""
    ids = [e.id for e in experiments]
    counts = crud.run_counts(session, ids)
    running: dict[int, list[Run]] = {i: [] for i in ids}
    query = select(Run).where(Run.experiment_id.in_(ids), Run.status == "running")
    for run in session.scalars(query):
        running[run.experiment_id].append(run)
    live = live_workers(session, timeout=get_settings().heartbeat_timeout) if ids else []
    return [
        {
            **_columns(e),
            "spec": e.spec,
            "progress": progress(spec_of(e), running[e.id], counts[e.id]),
            "waiting": waiting_for(live, e.device) if counts[e.id]["queued"] else None,
        }
        for e in experiments
    ]


# PostgreSQL refuses a NUL character in any text: a filter holding one is a 422, not a 500.
NO_NUL = r"^[^\x00]*$"
COLUMNS = (
    "id", "name", "status", "priority", "created", "sweep_id", "provenance", "owner", "device"
)
EDITABLE = ("tags", "notes", "archived_at")


def _columns(experiment: Experiment) -> dict[str, Any]:
    return {key: getattr(experiment, key) for key in COLUMNS + EDITABLE}


@router.get("", response_model=ExperimentPage)
def list_experiments(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    status_: Annotated[ExperimentStatus | None, Query(alias="status")] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, pattern=NO_NUL, description="name contains this (any case)"),
    ] = None,
    tag: Annotated[
        str | None, Query(max_length=MAX_TAG, pattern=NO_NUL, description="has this tag")
    ] = None,
    owner: Annotated[
        str | None, Query(max_length=64, pattern=NO_NUL, description="submitted by this user")
    ] = None,
    created_after: Annotated[
        datetime | None, Query(description="ISO 8601; created at or after (UTC if no zone)")
    ] = None,
    created_before: Annotated[
        datetime | None, Query(description="ISO 8601; created before (UTC if no zone)")
    ] = None,
    sort: Annotated[Sort, Query(description="a field, '-' first for descending")] = "-created_at",
    archived: Annotated[
        Archived, Query(description="false: hide archived (default); true: only them; all")
    ] = "false",
) -> dict[str, Any]:
    """Experiments that match every filter given, `limit` from `offset`, in `sort` order."""
    where = ExperimentFilter(
        status=status_,
        name_contains=q,
        tag=tag,
        owner=owner,
        created_after=created_after,
        created_before=created_before,
        archived=archived,
    )
    items, total = crud.list_experiments(
        session, where=where, sort=sort, limit=limit, offset=offset
    )
    page = public_experiments(session, items)
    return {"items": page, "total": total, "limit": limit, "offset": offset}


def experiment_detail(session: Session, experiment_id: int) -> dict[str, Any]:
    """GET /experiments/{id}'s body: spec, progress, edits and what stop_when_decided saved."""
    detail = public_experiments(session, [get_experiment(session, experiment_id)])[0]
    return {**detail, "stopped_early": results.stopped_early(session, experiment_id=experiment_id)}


@router.get("/{experiment_id}", response_model=ExperimentDetail)
def read_experiment(experiment_id: ExperimentId, session: SessionDep) -> dict[str, Any]:
    """One experiment (archived ones too) with its spec, progress, tags and notes."""
    return experiment_detail(session, experiment_id)


@router.post(
    "/{experiment_id}/cancel", response_model=CancelResponse, dependencies=[OwnExperiment]
)
def cancel_experiment(experiment_id: ExperimentId, db: DatabaseDep) -> CancelResponse:
    """Cancel every queued and running run: queued ones never start, running ones stop soon."""
    with db.transaction() as session:
        experiment = runs.lock_experiment(session, experiment_id)
        if experiment is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"experiment {experiment_id} not found")
        cancelled = runs.cancel_experiment(session, experiment=experiment)
        return CancelResponse(id=experiment.id, cancelled_runs=cancelled, status=experiment.status)
