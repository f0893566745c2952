"""/experiments: submit, list, show, cancel."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from celery import Celery
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import crud
from api.deps import (
    MAX_ID,
    Authorized,
    CeleryDep,
    CurrentPrincipal,
    DatabaseDep,
    ExperimentId,
    MemberOnly,
    OwnExperiment,
    SessionDep,
    SettingsDep,
)
from api.progress import progress
from api.schemas import (
    CancelResponse,
    ExperimentBrief,
    ExperimentDetail,
    ExperimentPage,
    RunBrief,
    SubmitResponse,
)
from api.submission import Submission, UnsupportedMediaType, prepare
from core.spec import ExperimentSpec, SpecError, parse_spec
from core.sweep import swept_values
from runqueue.app import publish_runs
from store import results, runs
from store.config import Settings
from store.db import Database
from store.models import Experiment, ExperimentStatus, Run

router = APIRouter(prefix="/experiments", tags=["experiments"], dependencies=[Authorized])


SPEC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An ExperimentSpec as JSON or YAML (chosen by Content-Type).",
        "content": {
            "application/json": {"schema": ExperimentSpec.model_json_schema()},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


async def raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
DryRun = Annotated[bool, Query(description="validate and list the runs; store nothing")]
Priority = Annotated[int, Query(ge=0, le=9, description="9 runs first")]


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    """The experiment, or 404 naming the id."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"experiment {experiment_id} not found")
    return experiment


def spec_of(experiment: Experiment) -> ExperimentSpec:
    return parse_spec(experiment.spec)


def read_submission(request: Request, body: bytes, settings: Settings) -> Submission:
    """The validated submission in a request, or 415/422 with one line per problem."""
    try:
        return prepare(
            body,
            request.headers.get("content-type"),
            settings.data_root,
            settings.max_runs_per_submission,
            settings.allowed_model_modules,
        )
    except UnsupportedMediaType as error:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(error)) from None
    except SpecError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, error.errors) from None


def dry_run_response(submission: Submission) -> SubmitResponse:
    """What a submission would store: its experiments and runs, without ids."""
    specs = submission.experiments
    return SubmitResponse(
        id=None,
        dry_run=True,
        experiments=[
            ExperimentBrief(id=None, name=s.name, runs=len(s.run_keys()), swept=swept_values(s))
            for s in specs
        ],
        runs=[
            RunBrief(arm=a, repeat=r, seed=s.seed, status="queued")
            for s in specs
            for a, r in s.run_keys()
        ],
    )


def store_submission(
    db: Database,
    celery: Celery,
    settings: Settings,
    submission: Submission,
    priority: int,
    owner: str | None = None,
) -> SubmitResponse:
    """Store every experiment in one transaction, then publish their runs' messages."""
    sweep_id = str(uuid.uuid4()) if submission.is_sweep else None
    stored, dispatches = [], []
    with db.transaction() as session:
        for spec in submission.experiments:
            experiment, sent = runs.create_experiment(
                session, spec=spec, priority=priority, sweep_id=sweep_id, owner=owner
            )
            stored.append((experiment, spec))
            dispatches += sent
    # A message that fails to go out leaves its run queued; the lost-message check publishes it.
    publish_runs(celery, settings, dispatches)
    return SubmitResponse(
        id=stored[0][0].id,
        sweep_id=sweep_id,
        experiments=[
            ExperimentBrief(id=e.id, name=e.name, runs=len(e.runs), swept=swept_values(spec))
            for e, spec in stored
        ],
        runs=[RunBrief.model_validate(run) for e, _ in stored for run in e.runs],
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmitResponse,
    openapi_extra=SPEC_BODY,
    dependencies=[MemberOnly],
)
def submit_experiment(
    request: Request,
    body: RawBody,
    response: Response,
    db: DatabaseDep,
    celery: CeleryDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    dry_run: DryRun = False,
    priority: Priority = 5,
) -> SubmitResponse:
    """Validate a spec (JSON or YAML), store one experiment per sweep point and queue its runs."""
    submission = read_submission(request, body, settings)
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return dry_run_response(submission)
    return store_submission(db, celery, settings, submission, priority, principal.name)


def public_experiments(session: Session, experiments: list[Experiment]) -> list[dict[str, Any]]:
    """Experiments with spec and progress; two queries for the whole page."""
    ids = [e.id for e in experiments]
    counts = crud.run_counts(session, ids)
    running: dict[int, list[Run]] = {i: [] for i in ids}
    query = select(Run).where(Run.experiment_id.in_(ids), Run.status == "running")
    for run in session.scalars(query):
        running[run.experiment_id].append(run)
    return [
        {
            **_columns(e),
            "spec": e.spec,
            "progress": progress(spec_of(e), running[e.id], counts[e.id]),
        }
        for e in experiments
    ]


def _columns(experiment: Experiment) -> dict[str, Any]:
    keys = ("id", "name", "status", "priority", "created", "sweep_id", "provenance", "owner")
    return {key: getattr(experiment, key) for key in keys}


@router.get("", response_model=ExperimentPage)
def list_experiments(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    status_: Annotated[ExperimentStatus | None, Query(alias="status")] = None,
) -> dict[str, Any]:
    """Experiments, newest first, `limit` from `offset`, optionally only those in `status`."""
    items, total = crud.list_experiments(session, status=status_, limit=limit, offset=offset)
    page = public_experiments(session, items)
    return {"items": page, "total": total, "limit": limit, "offset": offset}


@router.get("/{experiment_id}", response_model=ExperimentDetail)
def read_experiment(experiment_id: ExperimentId, session: SessionDep) -> dict[str, Any]:
    """One experiment with its spec, progress, and what stop_when_decided saved (if it did)."""
    detail = public_experiments(session, [get_experiment(session, experiment_id)])[0]
    return {**detail, "stopped_early": results.stopped_early(session, experiment_id=experiment_id)}


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
