"""/health: ok or not for anyone; database, broker and live workers for a signed-in caller."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import text

import core
from api.deps import CeleryDep, DatabaseDep, MaybePrincipal, SettingsDep
from api.schemas import Health, HealthStatus, WorkerPublic
from runqueue.app import check_broker
from store.workers import live_workers

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health | HealthStatus,
    responses={
        503: {"model": Health | HealthStatus, "description": "the database or the broker is down"}
    },
)
def health(
    db: DatabaseDep,
    celery: CeleryDep,
    settings: SettingsDep,
    response: Response,
    principal: MaybePrincipal,
) -> Health | HealthStatus:
    """200 when the database and the broker answer, 503 otherwise; with credentials, also the
    versions, hosts and pids of the live workers."""
    database: dict[str, Any] = {"ok": True, "dialect": db.dialect}
    workers: list[WorkerPublic] = []
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))
            rows = live_workers(session, timeout=settings.heartbeat_timeout)
            workers = [WorkerPublic.model_validate(w) for w in rows]
    except Exception as error:
        database = {"ok": False, "dialect": db.dialect, "error": type(error).__name__}
    broker = check_broker(celery, settings)
    ok = database["ok"] and broker["ok"]
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    if principal is None:
        return HealthStatus(status="ok" if ok else "degraded")
    return Health(
        status="ok" if ok else "degraded",
        version=core.__version__,
        database=database,
        broker=broker,
        workers=workers,
    )
