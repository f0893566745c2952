"""A live API and worker (tests/service's Service on SQLite) for the dashboard's tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from store.db import upgrade
from tests.service.servers import TOKEN, Api, Backend, Service, tiny_spec

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
ARMS = [
    {"name": "original", "method": "original", "preprocess_epochs": 1},
    {"name": "smart", "method": "smart_init",
     "stages": [{"fraction": 0.1, "epochs": 1}, {"fraction": 0.3, "epochs": 1}]},
]


def two_arm_spec(name: str = "dash", epochs: int = 3, repeats: int = 3) -> dict[str, Any]:
    """Two arms, a couple of stages, 200 digits: a few CPU seconds in all."""
    return {**tiny_spec(name, epochs=epochs, repeats=repeats, arms=ARMS), "baseline": "original"}


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """API + one worker on SQLite and the embedded broker, for every dashboard test."""
    root = tmp_path_factory.mktemp("dashboard-backend")
    url = f"sqlite:///{root / 'initlab.db'}"
    upgrade(url)
    (root / "data").mkdir()
    backend = Backend("sqlite", {
        "INITLAB_DATABASE_URL": url, "INITLAB_BROKER_URL": "filesystem://",
        "INITLAB_BROKER_DIR": str(root / "broker"), "INITLAB_ARTIFACT_DIR": str(root / "art"),
        "INITLAB_DATA_ROOT": str(root / "data"), "INITLAB_QUEUE_NAME": "initlab",
    })
    logs = Path(os.environ.get("INITLAB_TEST_LOGS") or root / "logs")
    logs.mkdir(parents=True, exist_ok=True)
    service = Service(backend, logs)
    try:
        service.start_api()
        service.start_worker(epoch_delay=0.0)
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def api(service: Service) -> Api:
    return Api(service.url)


@pytest.fixture(scope="session")
def finished(api: Api) -> dict[str, Any]:
    """A finished two-arm experiment with three repeats."""
    submitted = api.submit(two_arm_spec("finished"))
    return api.wait_status(submitted["id"], timeout=120)


@pytest.fixture
def dashboard_env(service: Service, monkeypatch: pytest.MonkeyPatch) -> Service:
    """Point the dashboard (it reads the environment on every run) at the live API."""
    monkeypatch.setenv("INITLAB_API_URL", service.url)
    monkeypatch.setenv("INITLAB_API_TOKEN", TOKEN)
    return service
