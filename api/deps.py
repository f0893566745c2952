"""Dependencies as Annotated aliases, so a route reads `def get(session: SessionDep, ...)`.

Access: `Authorized` (any signed-in role reads), `MemberOnly`, `AdminOnly`, and `OwnExperiment` /
`OwnRun` (members change only what they submitted; admins anything), per INITLAB_AUTH.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from celery import Celery
from fastapi import Depends, Header, HTTPException, Path, Request, status
from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from store import accounts
from store.accounts import ROLES, Role
from store.config import Settings
from store.db import Database
from store.models import Experiment, Run


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_celery(request: Request) -> Celery:
    app: Celery = request.app.state.celery
    return app


API_PREFIX = "/api/v1"

# Experiment and run ids are 32-bit INTEGER columns; a larger number names nothing, and the
# database would refuse to compare with it (a 500 instead of a clear 422).
MAX_ID = 2**31 - 1
MAX_CURSOR = 2**63 - 1  # metric ids are BIGINT
ExperimentId = Annotated[int, Path(ge=1, le=MAX_ID, description="an experiment's id")]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="a run's id")]

SettingsDep = Annotated[Settings, Depends(get_settings)]
DatabaseDep = Annotated[Database, Depends(get_db)]
CeleryDep = Annotated[Celery, Depends(get_celery)]


def get_session(db: DatabaseDep) -> Iterator[Session]:
    """A read session for the request; writes open their own transaction (db.transaction())."""
    with db.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, or (name None) the shared token's or an open API's admin."""

    role: Role
    name: str | None = None
    token_id: int | None = None  # the token this request came with (a session's: sign-out)

    def may(self, role: Role) -> bool:
        """True when this principal's role includes everything `role` may do."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def _bearer(authorization: str | None) -> str | None:
    scheme, _, given = (authorization or "").partition(" ")
    return given.strip() if scheme.lower() == "bearer" and given.strip() else None


def _shared_token(settings: Settings, given: str | None, request: Request) -> Principal:
    assert settings.api_token is not None  # Settings refuses INITLAB_AUTH=token without one
    expected = settings.api_token.get_secret_value().encode()
    # Wrong guesses are throttled per client address like failed sign-ins (INITLAB_LOGIN_*).
    throttle = getattr(request.app.state, "login_throttle", None)
    key = ("<shared token>", request.client.host if request.client else "")
    if given is not None and throttle is not None and (wait := throttle.retry_after(key)):
        raise _token_throttled(wait)
    # compare_digest takes the same time wherever the strings differ; the token is never logged.
    if given is None or not hmac.compare_digest(given.encode(), expected):
        if given is not None and throttle is not None:
            throttle.failed(key)
            if wait := throttle.retry_after(key):
                raise _token_throttled(wait)
        raise _unauthorized("missing or wrong bearer token (send 'Authorization: Bearer <token>')")
    if throttle is not None:
        throttle.succeeded(key)
    return Principal(role="admin")


def _token_throttled(seconds: int) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        f"too many wrong tokens from this address; try again in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


def _account_token(db: Database, given: str | None) -> Principal:
    if given is None:
        raise _unauthorized("sign in: send 'Authorization: Bearer <token>' (POST /auth/login)")
    with db.session() as session:
        token = accounts.find_token(session, given)
        if token is None:
            raise _unauthorized("invalid, expired or revoked token; sign in again")
        role = accounts.check_role(token.user.role)
        return Principal(role=role, name=token.user.name, token_id=token.id)


def authenticate(
    settings: SettingsDep,
    db: DatabaseDep,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller, by INITLAB_AUTH: a user's token, the shared token, or nobody needed (401)."""
    mode = settings.auth_mode
    if mode == "none":
        return Principal(role="admin")
    if mode == "token":
        return _shared_token(settings, _bearer(authorization), request)
    return _account_token(db, _bearer(authorization))


def optional_principal(
    settings: SettingsDep,
    db: DatabaseDep,
    request: Request,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal | None:
    """The caller when the credentials are good, else None (for routes open to anyone)."""
    try:
        return authenticate(settings, db, request, authorization)
    except HTTPException:
        return None


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
MaybePrincipal = Annotated[Principal | None, Depends(optional_principal)]
Authorized = Depends(authenticate)  # any signed-in role may read


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, detail)


def require_role(role: Role) -> Any:
    """A dependency that lets through `role` and the roles above it (403 otherwise)."""

    def check(principal: CurrentPrincipal) -> Principal:
        if not principal.may(role):
            raise _forbidden(f"needs the {role} role (you are {principal.role})")
        return principal

    return Depends(check)


MemberOnly = require_role("member")
AdminOnly = require_role("admin")


def _own(principal: Principal, row: Row[str | None] | None, what: str) -> Principal:
    """Admins may change anything, members what they submitted; a missing object is the route's
    404 (`row` None)."""
    if not principal.may("member"):
        raise _forbidden(f"needs the member role (you are {principal.role})")
    if row is None or principal.may("admin") or row.owner == principal.name:
        return principal
    raise _forbidden(f"{what} belongs to {row.owner or 'nobody'}; only its owner or an admin")


def own_experiment(
    experiment_id: ExperimentId, principal: CurrentPrincipal, session: SessionDep
) -> Principal:
    """The caller, when they may change this experiment (403 otherwise)."""
    row = session.execute(select(Experiment.owner).where(Experiment.id == experiment_id)).first()
    return _own(principal, row, f"experiment {experiment_id}")


def own_run(run_id: RunId, principal: CurrentPrincipal, session: SessionDep) -> Principal:
    """The caller, when they may change this run's experiment (403 otherwise)."""
    query = select(Experiment.owner).join(Run, Run.experiment_id == Experiment.id)
    row = session.execute(query.where(Run.id == run_id)).first()
    return _own(principal, row, f"run {run_id}")


OwnExperiment = Depends(own_experiment)
OwnRun = Depends(own_run)
