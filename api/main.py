"""The FastAPI application: routers under /api/v1, body limit, CORS, error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

import core
from api.cache import ResultCache
from api.deps import API_PREFIX
from api.errors import ERROR_RESPONSES, http_error, request_invalid
from api.middleware import BodySizeLimit
from api.routes import (
    auth,
    curation,
    experiments,
    health,
    imports,
    presets,
    results,
    runs,
    searches,
    sweeps,
)
from api.run_figures import RunFigureCache
from api.submit import spec_schemas
from api.throttle import LoginThrottle
from runqueue.app import make_celery
from store.config import Settings, get_settings
from store.db import get_database

PREFIX = API_PREFIX


def operation_id(route: APIRoute) -> str:
    """The route function's name (`submit_experiment`): short names in a generated client."""
    return route.name


def with_spec_schemas(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """app.openapi, with the submit body's ExperimentSpec and its parts under components."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in spec_schemas().items():
                if schemas.setdefault(name, schema) != schema:  # two models of one name
                    raise RuntimeError(f"OpenAPI component {name!r} is defined twice")
        return app.openapi_schema or generate()

    return openapi


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
        generate_unique_id_function=operation_id,
    )
    app.openapi = with_spec_schemas(app)  # type: ignore[method-assign]
    app.state.settings = settings
    app.state.db = get_database(settings.database_url)
    app.state.celery = make_celery(settings)
    app.state.results_cache = ResultCache()
    app.state.run_figures = RunFigureCache()
    app.state.login_throttle = LoginThrottle(settings.login_failures, settings.login_lockout)
    app.include_router(health.router, prefix=PREFIX)
    # imports before experiments: "/experiments/import" must not be read as an experiment id.
    for module in (imports, experiments, curation, results, runs, sweeps, presets, auth, searches):
        app.include_router(module.router, prefix=PREFIX, responses=ERROR_RESPONSES)
    app.include_router(auth.users_router, prefix=PREFIX, responses=ERROR_RESPONSES)

    app.add_exception_handler(RequestValidationError, request_invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)

    if settings.dashboard_origin:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=[settings.dashboard_origin],
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Location", "Idempotent-Replayed"],
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
