"""/searches: submit a calibration search, follow it, cancel it (issue 27).

The API stores the search and queues its baseline's runs; the coordinator on the workers asks
Optuna for trials and queues them (worker/search_coordinator.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from api import idempotency
from api.deps import (
    API_PREFIX,
    MAX_ID,
    Authorized,
    CeleryDep,
    CurrentPrincipal,
    DatabaseDep,
    MemberOnly,
    SessionDep,
    SettingsDep,
)
from api.errors import item
from api.schemas import CancelResponse
from api.search_schemas import SearchBrief, SearchDetail, SearchPage
from api.search_view import search_brief, search_detail
from api.submission import check_runnable, load_document
from api.submit import SPEC_BODY, RawBody, spec_problems_as_http
from core.search.space import check_search
from core.spec import ExperimentSpec, SpecError, parse_spec
from runqueue.app import publish_runs
from store import searches
from store.config import Settings
from store.models import Search

router = APIRouter(prefix="/searches", tags=["searches"], dependencies=[Authorized])
SearchId = Annotated[int, Path(ge=1, le=MAX_ID, description="a search's id")]
NOT_A_SEARCH = item(
    ["body", "search"],
    "missing; give search: {arm, space, budget, ...} (POST /experiments takes a plain experiment)",
    "missing",
)


def planned_runs(spec: ExperimentSpec) -> int:
    """Runs the search may queue at most: baseline, every trial, the confirmation."""
    assert spec.search is not None
    confirm = spec.search.confirm
    return spec.repeats * (1 + spec.search.budget.trials) + (confirm.top + 2) * confirm.repeats


def read_search(request: Request, body: bytes, settings: Settings) -> ExperimentSpec:
    """The validated search spec of a request, or 415/422 with one item per problem."""
    with spec_problems_as_http():
        spec = parse_spec(load_document(body, request.headers.get("content-type")))
        if spec.search is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [NOT_A_SEARCH])
        check_search(spec)
        check_runnable(spec, settings.data_root, settings.allowed_model_modules)
        if planned_runs(spec) > settings.max_runs_per_submission:
            raise SpecError([
                f"search: may queue {planned_runs(spec)} runs (baseline, trials, confirmation);"
                f" the limit is {settings.max_runs_per_submission}"
                " (INITLAB_MAX_RUNS_PER_SUBMISSION)"
            ])
    return spec


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=SPEC_BODY,
             dependencies=[MemberOnly], response_model=SearchBrief,
             responses={201: {"headers": {"Location": {"description": "the new search",
                                                       "schema": {"type": "string"}}}}})
def submit_search(
    request: Request,
    body: RawBody,
    response: Response,
    db: DatabaseDep,
    celery: CeleryDep,
    settings: SettingsDep,
    principal: CurrentPrincipal,
    idempotency_key: idempotency.Key = None,
    priority: Annotated[int, Query(ge=0, le=8, description="9 runs first")] = 5,
) -> Any:
    """Store a spec with a `search:` block and queue its baseline; the coordinator queues the
    trials. Every bad input is a 422 and stores nothing. 201 with Location; a retry with the
    same Idempotency-Key and body answers the same and stores nothing again."""
    digest = idempotency.fingerprint(request, body, principal.name)
    ttl = settings.idempotency_ttl
    if idempotency_key is not None:
        with db.session() as session:
            replayed = idempotency.replay(session, idempotency_key, digest, ttl)
        if replayed is not None:
            return replayed
    spec = read_search(request, body, settings)
    try:
        answer, dispatches = _store(
            db, spec, priority, principal.name, idempotency_key, digest, ttl
        )
    except IntegrityError:
        if idempotency_key is None:
            raise
        with db.session() as session:  # a concurrent retry committed first: answer as it did
            replayed = idempotency.replay(session, idempotency_key, digest, ttl)
        if replayed is None:
            raise
        return replayed
    publish_runs(celery, settings, dispatches)
    response.headers["Location"] = f"{API_PREFIX}/searches/{answer['id']}"
    return answer


def _store(db: Any, spec: ExperimentSpec, priority: int, owner: str | None, key: str | None,
           digest: str, ttl: float) -> tuple[dict[str, Any], list[Any]]:
    """The search and its baseline, and the key's answer, in one transaction."""
    with db.transaction() as session:
        search, dispatches = searches.create_search(
            session, spec=spec, priority=priority, owner=owner
        )
        answer = SearchBrief.model_validate(search_brief(search)).model_dump(mode="json")
        if key is not None:
            idempotency.remember(session, key=key, digest=digest, status_code=201, body=answer,
                                 location=f"{API_PREFIX}/searches/{answer['id']}", ttl=ttl)
    return answer, dispatches


@router.get("", response_model=SearchPage)
def list_searches(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    """Searches, newest first."""
    total = int(session.scalar(select(func.count()).select_from(Search)) or 0)
    rows = session.scalars(select(Search).order_by(Search.id.desc()).limit(limit).offset(offset))
    return {"items": [search_brief(s) for s in rows], "total": total, "limit": limit,
            "offset": offset}


@router.get("/{search_id}", response_model=SearchDetail)
def read_search_detail(search_id: SearchId, session: SessionDep) -> dict[str, Any]:
    """The search: its trials, counts, run-epochs trained, and the confirmation's estimates
    beside the search's own."""
    search = session.get(Search, search_id)
    if search is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"search {search_id} not found")
    return search_detail(session, search)


@router.post("/{search_id}/cancel", dependencies=[MemberOnly], response_model=CancelResponse)
def cancel_search(
    search_id: SearchId, db: DatabaseDep, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Stop asking for trials and cancel every queued and running run of the search."""
    with db.transaction() as session:
        search = searches.lock_search(session, search_id)
        if search is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"search {search_id} not found")
        if not (principal.may("admin") or search.owner == principal.name):
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                f"search {search_id} belongs to {search.owner or 'nobody'};"
                                " only its owner or an admin")
        if search.status not in searches.LIVE:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"search {search_id} is {search.status}; only a running or"
                                " confirming search can be cancelled")
        cancelled = searches.cancel_search(session, search, "cancelled: the search was cancelled")
        return {"id": search.id, "cancelled_runs": cancelled, "status": search.status}
