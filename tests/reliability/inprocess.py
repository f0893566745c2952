"""The API in this process (FastAPI's TestClient), on a SQLite file and the file broker, with a
token and a dashboard origin configured: for tests of input, limits and security that need no
worker."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from api.main import create_app
from store.config import Settings
from store.db import upgrade
from tests.service.backends import postgres_backend
from tests.service.servers import TOKEN, Service

ORIGIN = "http://dashboard.example:8501"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def make_app(root: Path, **overrides: Any) -> FastAPI:
    """An app on a fresh store under `root`."""
    url = f"sqlite:///{root / 'api.db'}"
    upgrade(url)
    (root / "data").mkdir(exist_ok=True)
    values: dict[str, Any] = {
        "database_url": url,
        "broker_url": "filesystem://",
        "broker_dir": root / "broker",
        "artifact_dir": root / "art",
        "data_root": str(root / "data"),
        "api_token": TOKEN,
        "dashboard_origin": ORIGIN,
    }
    return create_app(Settings(**{**values, **overrides}))


def route_app() -> FastAPI:
    """An app built at import, to parametrise tests over its routes (stores nothing)."""
    return make_app(Path(tempfile.mkdtemp(prefix="initlab-routes-")))


@contextmanager
def live_postgres_api(root: Path, logs: Path, **env: str) -> Iterator[tuple[httpx.Client, Path]]:
    """The same API as deployed: uvicorn on a scratch PostgreSQL; (client, its data root)."""
    with postgres_backend(root, "live-api") as backend:
        backend.env.update(env, INITLAB_DASHBOARD_ORIGIN=ORIGIN)
        service = Service(backend, logs)
        try:
            service.start_api()
            with httpx.Client(base_url=service.url, headers=AUTH, timeout=60) as client:
                yield client, Path(backend.env["INITLAB_DATA_ROOT"])
        finally:
            service.stop()
