"""A live API and worker (tests/service's Service on SQLite) for the dashboard's tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.db import upgrade
from tests.service.servers import TOKEN, Api, Backend, Service, free_port, tiny_spec, wait_for

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


def sign_in(page: Any, url: str, *, token: str = TOKEN, name: str = "", password: str = "") -> None:
    """Open `url` and pass the dashboard's sign-in form: with a user's name and password, or
    (by default) with the API's shared token; each full page load is a new session."""
    page.goto(url)
    if name:
        page.get_by_label("User name", exact=True).fill(name)
        page.get_by_label("Password", exact=True).fill(password)
    else:
        page.get_by_label("API token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


@contextmanager
def run_dashboard(api_url: str, log_path: Path) -> Iterator[str]:
    """`streamlit run dashboard/app.py` on a free port, pointed at `api_url`; yields its URL.

    The server-wide INITLAB_API_TOKEN is in its environment on purpose: the dashboard must
    not use it (whoever opens it signs in).
    """
    port = free_port()
    env = {**os.environ, "INITLAB_API_URL": api_url, "INITLAB_API_TOKEN": TOKEN,
           "PYTHONPATH": str(APP.parents[1])}
    log = open(log_path, "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP),
         "--server.headless", "true", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--client.toolbarMode", "viewer"],
        cwd=APP.parents[1], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, f"streamlit exited with {process.returncode}"
        try:
            return httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok"
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, 60, 0.3, "the dashboard to answer")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
