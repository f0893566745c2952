"""With INITLAB_API_TOKEN set, every endpoint but /health (and the API's own documentation)
answers 401 without the token; the token is compared in constant time and never logged; CORS
admits only the dashboard's origin; the dashboard sends the token."""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import ValidationError

import api.deps
from store.config import Settings
from tests.reliability.inprocess import AUTH, ORIGIN, live_postgres_api, make_app, route_app
from tests.service.servers import TOKEN, Service, tiny_spec

# Open to anyone: ok / not ok, how to sign in, and signing in (test_role_matrix.py has the rest).
PUBLIC = {"/api/v1/health", "/api/v1/auth/mode", "/api/v1/auth/login"}
DOCS = ("/openapi.json", "/docs", "/redoc")  # documentation only: no data, left open
PARAMS = {
    "experiment_id": "1", "run_id": "1", "sweep_id": "x", "name": "demo-digits", "token_id": "1",
    "search_id": "1",
}
# app.routes, with included routers expanded (FastAPI >= 0.165 keeps them nested).
ROUTES = [
    (method, str(route.path))
    for route in iter_route_contexts(route_app().routes)
    if isinstance(route.original_route, APIRoute) and route.path not in PUBLIC
    for method in sorted(route.methods or ())
]
WRONG = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Bearer {TOKEN[:-1]}"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": TOKEN},
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(make_app(Path(tmp_path_factory.mktemp("security")))) as test_client:
        yield test_client


@pytest.fixture(scope="module", params=["in-process sqlite", "uvicorn postgres"])
def any_client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """The token checks run in this process on SQLite and on uvicorn with PostgreSQL."""
    root = Path(tmp_path_factory.mktemp("security-any"))
    if request.param == "in-process sqlite":
        with TestClient(make_app(root)) as test_client:
            yield test_client
        return
    with live_postgres_api(root, Path(tmp_path_factory.mktemp("security-logs"))) as (live, _):
        live.headers.pop("Authorization")  # each test sends its own
        yield live


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)


def test_the_route_list_is_complete() -> None:
    assert len(ROUTES) >= 14 and ("POST", "/api/v1/sweeps") in ROUTES


@pytest.mark.parametrize("method, path", ROUTES)
def test_every_route_needs_the_token(any_client: httpx.Client, method: str, path: str) -> None:
    client = any_client
    for headers in WRONG:
        response = client.request(method, _url(path), headers=headers, json=tiny_spec())
        assert response.status_code == 401, (method, path, headers, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
    allowed = client.request(method, _url(path), headers=AUTH, json=tiny_spec())
    assert allowed.status_code != 401


def test_health_and_documentation_are_open(any_client: httpx.Client) -> None:
    client = any_client
    assert client.get("/api/v1/health").status_code == 200
    for path in DOCS:
        assert client.get(path).status_code == 200, path


def test_token_is_compared_in_constant_time_and_never_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api.deps.hmac, "compare_digest", spy)
    caplog.set_level(logging.DEBUG)
    bodies = [client.get("/api/v1/experiments", headers=headers).text for headers in [*WRONG, AUTH]]
    bodies.append(client.post("/api/v1/experiments", headers=AUTH, json={"name": 1}).text)
    assert compared and all(b == TOKEN.encode() for _, b in compared)
    assert TOKEN not in caplog.text and not any(TOKEN in body for body in bodies)
    assert TOKEN not in repr(Settings(api_token=TOKEN))


def test_live_service_logs_hold_no_token(sqlite_service: Service, pg_service: Service) -> None:
    """Every API and worker log written so far by this session's services (they all run with
    INITLAB_API_TOKEN set and were sent the token with every request)."""
    for service in (sqlite_service, pg_service):
        logs = sorted(service.logs.glob("*.log"))
        assert logs
        for log in logs:
            assert TOKEN not in log.read_text(errors="replace"), log


def test_production_refuses_a_weak_or_missing_token() -> None:
    for token in (None, "short"):
        with pytest.raises(ValidationError, match="at least 16 characters"):
            Settings(environment="production", api_token=token)


def _preflight(client: TestClient, origin: str) -> dict[str, str]:
    headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    return dict(client.options("/api/v1/experiments", headers=headers).headers)


def test_cors_admits_only_the_configured_dashboard_origin(
    client: TestClient, tmp_path: Path
) -> None:
    assert _preflight(client, ORIGIN)["access-control-allow-origin"] == ORIGIN
    for other in ("http://evil.example", "null", ORIGIN + ".evil.example"):
        assert "access-control-allow-origin" not in _preflight(client, other)
        simple = client.get("/api/v1/health", headers={"Origin": other})
        assert "access-control-allow-origin" not in simple.headers
    with TestClient(make_app(tmp_path, dashboard_origin=None)) as closed:
        assert "access-control-allow-origin" not in _preflight(closed, ORIGIN)


def test_the_dashboard_client_sends_the_token(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.client import ApiError, Client, Config

    monkeypatch.setenv("INITLAB_API_URL", str(client.base_url))
    transport = client._transport  # the in-process app behind an httpx transport
    monkeypatch.setenv("INITLAB_API_TOKEN", TOKEN)
    assert "items" in Client(Config.from_env(), transport=transport).experiments()
    monkeypatch.delenv("INITLAB_API_TOKEN")
    with pytest.raises(ApiError) as refused:
        Client(Config.from_env(), transport=transport).experiments()
    assert refused.value.status == 401


def test_wrong_guesses_of_the_shared_token_are_throttled_like_logins(tmp_path: Path) -> None:
    """Issue 24: INITLAB_LOGIN_FAILURES wrong tokens from one address within
    INITLAB_LOGIN_LOCKOUT, and that address gets 429 with Retry-After, even with the right
    token; a missing token is no guess."""
    with TestClient(make_app(tmp_path, login_failures=3, login_lockout=600)) as client:
        wrong = {"Authorization": "Bearer wrong-guess"}
        for _ in range(2):
            assert client.get("/api/v1/experiments", headers=wrong).status_code == 401
        assert client.get("/api/v1/experiments").status_code == 401  # no token: not counted
        locked = client.get("/api/v1/experiments", headers=wrong)
        assert locked.status_code == 429 and 1 <= int(locked.headers["Retry-After"]) <= 600
        assert "too many wrong tokens" in locked.json()["detail"]
        assert client.get("/api/v1/experiments", headers=AUTH).status_code == 429
