"""The FastAPI application: routers under /api/v1, body limit, CORS, error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

import core
from api.cache import ResultCache
from api.middleware import BodySizeLimit, validation_lines
from api.routes import auth, experiments, health, imports, presets, results, runs, sweeps
from api.schemas import ERROR_RESPONSES
from api.throttle import LoginThrottle
from runqueue.app import make_celery
from store.config import Settings, get_settings
from store.db import get_database

PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    """An app bound to `settings` (default: the INITLAB_* environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.db.dispose()

    app = FastAPI(
        title="InitLab",
        version=core.__version__,
        lifespan=lifespan,
        description="Queue and inspect paired, repeated initialisation experiments.",
    )
    app.state.settings = settings
    app.state.db = get_database(settings.database_url)
    app.state.celery = make_celery(settings)
    app.state.results_cache = ResultCache()
    app.state.login_throttle = LoginThrottle(settings.login_failures, settings.login_lockout)
    app.include_router(health.router, prefix=PREFIX)
    # imports before experiments: "/experiments/import" must not be read as an experiment id.
    for module in (imports, experiments, results, runs, sweeps, presets, auth):
        app.include_router(module.router, prefix=PREFIX, responses=ERROR_RESPONSES)
    app.include_router(auth.users_router, prefix=PREFIX, responses=ERROR_RESPONSES)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_lines(list(error.errors()))}, status_code=422)

    if settings.dashboard_origin:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[settings.dashboard_origin],
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    import_limit = (settings.max_import_bytes, "INITLAB_MAX_IMPORT_BYTES")
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        paths={f"{PREFIX}/experiments/import": import_limit},
    )
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app` builds the app on first access, from the environment.
    if name == "app":
        globals()["app"] = application = create_app()
        return application
    raise AttributeError(name)
