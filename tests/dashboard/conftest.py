"""A live API and worker (tests/service's Service on SQLite) for the dashboard's tests, and the
dashboard itself (`streamlit run`) for the real-browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from store.db import upgrade
from tests.service.servers import TOKEN, Api, Backend, Service, free_port, tiny_spec, wait_for

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "dashboard" / "app.py"  # what `streamlit run` serves (an st.App)
ROUTER = REPO / "dashboard" / "router.py"  # the pages' script it runs: what AppTest runs
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(os.environ.get("INITLAB_SCREENSHOTS") or REPO / "test-artifacts" / "screenshots")
ARMS: list[dict[str, Any]] = [
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
    (by default) with the API's shared token. A browser already signed in (its session cookie,
    dashboard/sessions.py) shows the page at once."""
    page.goto(url)
    form = page.get_by_role("button", name="Sign in")
    form.or_(page.get_by_role("button", name="Sign out")).first.wait_for()
    if form.count() == 0:
        return
    if name:
        page.get_by_label("User name", exact=True).fill(name)
        page.get_by_label("Password", exact=True).fill(password)
    else:
        page.get_by_label("API token", exact=True).fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, Any]:
    """Mark a test whose call failed, so a browser fixture can leave a screenshot."""
    report = yield
    if report.when == "call":
        item.call_failed = report.failed  # type: ignore[attr-defined]
    return report


def needs_chromium() -> ModuleType:
    """playwright.sync_api, or skip the calling module where it or Debian's chromium is absent."""
    module = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}", allow_module_level=True)
    return module


@contextmanager
def browser_page(timeout_ms: int) -> Iterator[Any]:
    """A page of a fresh headless chromium (Debian's), closed on leaving the block."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with needs_chromium().sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        # A context of its own, so page.context.new_page() opens more sessions sharing its cache.
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(timeout_ms)
        try:
            yield page
        finally:
            browser.close()


@contextmanager
def streamlit_server(api_url: str, log_path: Path) -> Iterator[tuple[str, int]]:
    """`streamlit run dashboard/app.py` on a free port, pointed at the API; (URL, its pid).

    The server-wide INITLAB_API_TOKEN is in its environment on purpose: the dashboard must
    not use it (whoever opens it signs in).
    """
    port = free_port()
    env = {**os.environ, "INITLAB_API_URL": api_url, "INITLAB_API_TOKEN": TOKEN,
           "PYTHONPATH": str(REPO)}
    log = open(log_path, "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP),
         "--server.headless", "true", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--client.toolbarMode", "viewer"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
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
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def dashboard_url(service: Service) -> Iterator[str]:
    """The dashboard on a free port, pointed at the session's live API."""
    with streamlit_server(service.url, service.logs / "dashboard.log") as (url, _):
        yield url
