"""Dependencies as Annotated aliases, so a route reads `def get(session: SessionDep, ...)`."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from celery import Celery
from fastapi import Depends, Header, HTTPException, Path, Request, status
from sqlalchemy.orm import Session

from store.config import Settings
from store.db import Database


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


def require_token(
    settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    """With INITLAB_API_TOKEN set, demand `Authorization: Bearer <token>` (401 otherwise)."""
    if settings.api_token is None:
        return
    expected = settings.api_token.get_secret_value().encode()
    scheme, _, given = (authorization or "").partition(" ")
    # compare_digest takes the same time wherever the strings differ; the token is never logged.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or wrong bearer token (send 'Authorization: Bearer <token>')",
            headers={"WWW-Authenticate": "Bearer"},
        )


Authorized = Depends(require_token)
