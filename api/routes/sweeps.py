"""/sweeps: submit a spec with `sweep:` as a group of experiments, and follow the group."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, Response, status
from sqlalchemy import select

from api import crud
from api.deps import (
    Authorized,
    CeleryDep,
    CurrentPrincipal,
    DatabaseDep,
    MemberOnly,
    SessionDep,
    SettingsDep,
)
from api.routes.experiments import (
    SPEC_BODY,
    DryRun,
    Priority,
    RawBody,
    dry_run_response,
    public_experiments,
    read_submission,
    spec_of,
    store_submission,
)
from api.schemas import SubmitResponse, SweepDetail
from core.sweep import swept_values
from store.models import Experiment
from store.runs import derive_status

router = APIRouter(prefix="/sweeps", tags=["sweeps"], dependencies=[Authorized])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmitResponse,
    openapi_extra=SPEC_BODY,
    dependencies=[MemberOnly],
)
def submit_sweep(
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
    """Store one experiment per combination of the spec's `sweep:` values, under one sweep id."""
    submission = read_submission(request, body, settings)
    if not submission.is_sweep:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            [
                "sweep: missing; give dotted field paths with values, e.g. "
                "{'training.lr': [0.01, 0.001]} (POST /experiments takes a single experiment)"
            ],
        )
    if dry_run:
        response.status_code = status.HTTP_200_OK
        return dry_run_response(submission)
    return store_submission(db, celery, settings, submission, priority, principal.name)


@router.get("/{sweep_id}", response_model=SweepDetail)
def read_sweep(
    sweep_id: Annotated[str, Path(max_length=36, description="the id POST /sweeps returned")],
    session: SessionDep,
) -> dict[str, Any]:
    """The sweep's experiments, each with its swept values, status and progress."""
    experiments = list(
        session.scalars(
            select(Experiment).where(Experiment.sweep_id == sweep_id).order_by(Experiment.id)
        )
    )
    if not experiments:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"sweep {sweep_id} not found")
    items = public_experiments(session, experiments)
    counts: Counter[str] = Counter()
    for counted in crud.run_counts(session, [e.id for e in experiments]).values():
        counts.update(counted)
    total = sum(item["progress"].runs_total for item in items)
    done = sum(item["progress"].fraction * item["progress"].runs_total for item in items)
    for item, experiment in zip(items, experiments, strict=True):
        item["swept"] = swept_values(spec_of(experiment))
    return {
        "id": sweep_id,
        "status": derive_status(counts),
        "fraction": round(done / total, 4) if total else 0.0,
        "experiments": items,
    }
