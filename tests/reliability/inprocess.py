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
from fastapi.testclient import TestClient

from api.main import create_app
from core.paper.authors_import import import_authors_file
from initlab.commands.import_ import upload_document
from store.config import Settings
from store.db import upgrade
from tests.core.authors_files import write_authors_file
from tests.service.backends import postgres_backend, scratch_postgres
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


@contextmanager
def dialect_app(dialect: str, root: Path, label: str) -> Iterator[FastAPI]:
    """An app on a fresh store of `dialect` (sqlite | postgres), its engine disposed after."""
    if dialect == "sqlite":
        yield make_app(root)
        return
    with scratch_postgres(label) as url:
        app = make_app(root, database_url=url)
        try:
            yield app
        finally:
            app.state.db.dispose()


@contextmanager
def api_client(app: FastAPI) -> Iterator[TestClient]:
    """A TestClient of `app` with the token, its paths relative to /api/v1."""
    with TestClient(app, headers=AUTH, base_url="http://testserver/api/v1") as client:
        yield client


def import_finished(client: TestClient, folder: Path, runs: int, epochs: int) -> dict[str, Any]:
    """A finished two-arm experiment stored through the import endpoint, with its runs."""
    file = write_authors_file(folder / "runs.npz", runs=runs, epochs=epochs)
    response = client.post("/experiments/import",
                           json=upload_document(import_authors_file(file, "table1-16")))
    assert response.status_code == 201, response.text
    body = dict(response.json())
    body["runs"] = client.get(f"/experiments/{body['id']}/runs").json()["items"]
    return body


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
