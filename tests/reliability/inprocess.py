"""The API in this process (FastAPI's TestClient), on a SQLite file and the file broker, with a
token and a dashboard origin configured: for tests of input, limits and security that need no
worker."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from api.main import create_app
from store.config import Settings
from store.db import upgrade
from tests.service.servers import TOKEN

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
