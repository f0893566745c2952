"""/sweeps: submit a spec with `sweep:` as a group of experiments, and follow the group."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from sqlalchemy import select

from api import crud
from api.deps import API_PREFIX, MAX_ID, Authorized, MemberOnly, SessionDep
from api.routes.experiments import public_experiments, spec_of
from api.schemas import SubmitResponse, SweepDetail, SweepPage
from api.submit import SPEC_BODY, SUBMIT_RESPONSES, SubmitDep, accept
from core.sweep import swept_values
from store.models import Experiment
from store.runs import derive_status

router = APIRouter(prefix="/sweeps", tags=["sweeps"], dependencies=[Authorized])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmitResponse,
    responses=SUBMIT_RESPONSES,
    openapi_extra=SPEC_BODY,
    dependencies=[MemberOnly],
)
def submit_sweep(call: SubmitDep) -> Any:
    """Store one experiment per combination of the spec's `sweep:` values, under one sweep id.

    201 with Location /api/v1/sweeps/{sweep_id}; Idempotency-Key as on POST /experiments.
    """
    return accept(
        call, locate=lambda answer: f"{API_PREFIX}/sweeps/{answer.sweep_id}", sweep_only=True
    )


@router.get("", response_model=SweepPage)
def list_sweeps(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """Sweeps, newest first, with their status and run counts."""
    items, total = crud.sweeps_page(session, limit=limit, offset=offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


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
    total = sum(item["progress"].runs_total for item in items)
    done = sum(item["progress"].fraction * item["progress"].runs_total for item in items)
    for item, experiment in zip(items, experiments, strict=True):
        item["swept"] = swept_values(spec_of(experiment))
    return {
        "id": sweep_id,
        "status": derive_status(crud.sweep_outcomes(session, sweep_id)),
        "fraction": round(done / total, 4) if total else 0.0,
        "experiments": items,
    }
