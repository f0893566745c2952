"""POST /experiments and /sweeps: validate, store in one transaction, publish, answer 201.

Both routes share this path: an Idempotency-Key replay first, then validation, then the store
(with the key's answer in the same transaction) and the messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from celery import Celery
from fastapi import Depends, HTTPException, Query, Request, Response, status
from sqlalchemy.exc import IntegrityError

from api import idempotency
from api.deps import CeleryDep, CurrentPrincipal, DatabaseDep, SettingsDep
from api.errors import item, spec_items
from api.schemas import ExperimentBrief, RunBrief, SubmitResponse
from api.submission import Submission, UnsupportedMediaType, prepare
from core.spec import ExperimentSpec, SpecError
from core.sweep import swept_values
from core.training.stopping import decision_warnings
from runqueue.app import publish_runs
from store import runs
from store.config import Settings
from store.db import Database

# The body names ExperimentSpec in components (api.main adds it and its parts there), so a
# generated client gets one ExperimentSpec class. YAML stays accepted but undeclared: OpenAPI
# client generators refuse a body content type they do not know, and then drop the route.
SPEC_REF = "#/components/schemas/ExperimentSpec"
SPEC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An ExperimentSpec as JSON; the same as YAML text is accepted too, "
        "sent with Content-Type: application/yaml.",
        "content": {"application/json": {"schema": {"$ref": SPEC_REF}}},
    }
}


def spec_schemas() -> dict[str, Any]:
    """ExperimentSpec's JSON schema and its parts', named as OpenAPI components."""
    schema = ExperimentSpec.model_json_schema(ref_template="#/components/schemas/{model}")
    parts = schema.pop("$defs", {})
    return {**parts, "ExperimentSpec": schema}


async def raw_body(request: Request) -> bytes:
    return await request.body()


RawBody = Annotated[bytes, Depends(raw_body)]
DryRun = Annotated[bool, Query(description="validate and list the runs; store nothing")]
Priority = Annotated[int, Query(ge=0, le=9, description="9 runs first")]
NOT_A_SWEEP = item(
    ["body", "sweep"],
    "missing; give dotted field paths with values, e.g. {'training.lr': [0.01, 0.001]} "
    "(POST /experiments takes a single experiment)",
    "missing",
)

# What OpenAPI says of a submit route's answers besides errors.
SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SubmitResponse, "description": "dry_run: what would be stored (no ids)"},
    201: {
        "description": "stored and queued; a replayed Idempotency-Key answers the same",
        "headers": {
            "Location": {"description": "the new resource", "schema": {"type": "string"}},
            "Idempotent-Replayed": {
                "description": "'true' when this is the stored answer of an earlier request",
                "schema": {"type": "string"},
            },
        },
    },
}


@dataclass(frozen=True)
class Services:
    """What storing a submission needs: the database, the broker and the settings."""

    db: Database
    celery: Celery
    settings: Settings


def get_services(db: DatabaseDep, celery: CeleryDep, settings: SettingsDep) -> Services:
    return Services(db, celery, settings)


ServicesDep = Annotated[Services, Depends(get_services)]


@contextmanager
def spec_problems_as_http() -> Iterator[None]:
    """A body of the wrong media type is a 415; a spec's problems a 422 with one item each."""
    try:
        yield
    except UnsupportedMediaType as error:
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, str(error)) from None
    except SpecError as error:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, spec_items(error.errors)
        ) from None


def read_submission(request: Request, body: bytes, settings: Settings) -> Submission:
    """The validated submission in a request, or 415/422 with one item per problem."""
    with spec_problems_as_http():
        return prepare(
            body,
            request.headers.get("content-type"),
            settings.data_root,
            settings.max_runs_per_submission,
            settings.allowed_model_modules,
        )


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
        warnings=submission_warnings(specs),
    )


def submission_warnings(specs: list[ExperimentSpec]) -> list[str]:
    """Each experiment's decision warnings (core.training.stopping), named in a sweep."""
    out = []
    for spec in specs:
        prefix = f"{spec.name}: " if len(specs) > 1 else ""
        out += [prefix + warning for warning in decision_warnings(spec)]
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Remembered:
    """The Idempotency-Key of a request and the fingerprint it came with."""

    key: str
    digest: str


def store_submission(
    services: Services,
    submission: Submission,
    priority: int,
    locate: Callable[[SubmitResponse], str],
    remembered: Remembered | None = None,
    owner: str | None = None,
) -> SubmitResponse:
    """Store every experiment (and the key's answer) in one transaction, then publish."""
    sweep_id = str(uuid.uuid4()) if submission.is_sweep else None
    dispatches = []
    with services.db.transaction() as session:
        stored = []
        for spec in submission.experiments:
            experiment, sent = runs.create_experiment(
                session, spec=spec, priority=priority, sweep_id=sweep_id, owner=owner
            )
            stored.append((experiment, spec))
            dispatches += sent
        answer = SubmitResponse(
            id=stored[0][0].id,
            sweep_id=sweep_id,
            experiments=[
                ExperimentBrief(id=e.id, name=e.name, runs=len(e.runs), swept=swept_values(spec))
                for e, spec in stored
            ],
            runs=[RunBrief.model_validate(run) for e, _ in stored for run in e.runs],
            warnings=submission_warnings(submission.experiments),
        )
        if remembered is not None:
            idempotency.remember(
                session,
                key=remembered.key,
                digest=remembered.digest,
                status_code=status.HTTP_201_CREATED,
                body=answer.model_dump(mode="json"),
                location=locate(answer),
                ttl=services.settings.idempotency_ttl,
            )
    # A message that fails to go out leaves its run queued; the lost-message check publishes it.
    publish_runs(services.celery, services.settings, dispatches)
    return answer


@dataclass(frozen=True)
class SubmitCall:
    """Everything a submit route receives: the request, its body and its parameters."""

    request: Request
    body: bytes
    response: Response
    services: Services
    key: str | None
    dry_run: bool
    priority: int
    owner: str | None  # the signed-in user (None under a shared token or no auth)


def submit_call(
    request: Request,
    body: RawBody,
    response: Response,
    services: ServicesDep,
    principal: CurrentPrincipal,
    idempotency_key: idempotency.Key = None,
    dry_run: DryRun = False,
    priority: Priority = 5,
) -> SubmitCall:
    return SubmitCall(
        request, body, response, services, idempotency_key, dry_run, priority, principal.name
    )


SubmitDep = Annotated[SubmitCall, Depends(submit_call)]


def accept(
    call: SubmitCall, *, locate: Callable[[SubmitResponse], str], sweep_only: bool = False
) -> Response | SubmitResponse:
    """A submit route's answer: a replay, a dry run (200), or the stored submission (201)."""
    services, remembered = call.services, None
    if call.key is not None and not call.dry_run:
        # The caller is part of the fingerprint: another user's key is refused, never replayed.
        digest = idempotency.fingerprint(call.request, call.body, call.owner)
        remembered = Remembered(call.key, digest)
        with services.db.session() as session:
            ttl = services.settings.idempotency_ttl
            replayed = idempotency.replay(session, call.key, remembered.digest, ttl)
        if replayed is not None:
            return replayed
    submission = read_submission(call.request, call.body, services.settings)
    if sweep_only and not submission.is_sweep:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [NOT_A_SWEEP])
    if call.dry_run:
        call.response.status_code = status.HTTP_200_OK
        return dry_run_response(submission)
    try:
        answer = store_submission(
            services, submission, call.priority, locate, remembered, call.owner
        )
    except IntegrityError:
        if remembered is None:
            raise
        # A concurrent request with the same key committed first: answer as it did.
        with services.db.session() as session:
            replayed = idempotency.replay(
                session, remembered.key, remembered.digest, services.settings.idempotency_ttl
            )
        if replayed is None:
            raise
        return replayed
    call.response.headers["Location"] = locate(answer)
    return answer
