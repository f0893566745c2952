"""Every route × every kind of caller against the status code it must get (INITLAB_AUTH=accounts).

The routes come from the app's route table, so a new route without a line in EXPECTED fails
here until someone decides who may call it. In-process (TestClient) on one SQLite store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from store import accounts
from store.db import Database
from store.models import ApiToken, utcnow
from tests.reliability.inprocess import make_app, route_app
from tests.service.servers import tiny_spec

PASSWORD = "correct horse battery"
# Who calls: a user of each role (member on their own experiment, other on someone else's),
# nobody, and credentials that no longer count (a revoked or expired token, a disabled admin).
USERS = {"viewer": "vera", "member": "mia", "other": "max", "admin": "ada"}
REFUSED = ("none", "revoked", "expired", "disabled")
WHO = [*USERS, *REFUSED]


@dataclass(frozen=True)
class Rule:
    """Who may call a route, and what a permitted call returns with the request below."""

    allows: str  # public | viewer | member | owner | admin
    ok: int
    body: Any = None
    params: dict[str, Any] | None = None
    # "cancelled": the path names a cancelled experiment of Mia's and one of its runs, so the
    # answer does not depend on which caller came first (archive, restore, cancel a run).
    on: str = ""


SWEEP = {**tiny_spec("matrix-sweep"), "sweep": {"training.lr": [0.01, 0.001]}}
E, R = "/api/v1/experiments/{experiment_id}", "/api/v1/runs/{run_id}"
EXPECTED: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/health"): Rule("public", 200),
    ("GET", "/api/v1/auth/mode"): Rule("public", 200),
    ("POST", "/api/v1/auth/login"): Rule("public", 200, {"name": "vera", "password": PASSWORD}),
    ("POST", "/api/v1/auth/logout"): Rule("viewer", 204),
    ("GET", "/api/v1/auth/me"): Rule("viewer", 200),
    ("POST", "/api/v1/auth/tokens"): Rule("viewer", 201, {"name": "script"}),
    ("GET", "/api/v1/auth/tokens"): Rule("viewer", 200),
    ("DELETE", "/api/v1/auth/tokens/{token_id}"): Rule("viewer", 404),  # not the caller's
    ("GET", "/api/v1/users"): Rule("admin", 200),
    ("POST", "/api/v1/users"): Rule("admin", 201, {"name": "newcomer", "password": PASSWORD}),
    ("PATCH", "/api/v1/users/{name}"): Rule("admin", 200, {"disabled": False}),
    ("GET", "/api/v1/presets"): Rule("viewer", 200),
    ("GET", "/api/v1/presets/{name}"): Rule("viewer", 200),
    ("POST", "/api/v1/experiments"): Rule("member", 200, tiny_spec(), {"dry_run": True}),
    ("POST", "/api/v1/sweeps"): Rule("member", 200, SWEEP, {"dry_run": True}),
    ("POST", "/api/v1/experiments/import"): Rule("member", 422, {}),  # an empty document
    ("GET", "/api/v1/experiments"): Rule("viewer", 200),
    ("GET", "/api/v1/sweeps/{sweep_id}"): Rule("viewer", 404),
    ("GET", E): Rule("viewer", 200),
    ("GET", E + "/runs"): Rule("viewer", 200),
    ("GET", E + "/metrics"): Rule("viewer", 200),
    ("GET", E + "/curves"): Rule("viewer", 200),
    ("GET", E + "/lines"): Rule("viewer", 200),
    ("GET", E + "/phases"): Rule("viewer", 200),
    ("GET", E + "/selected"): Rule("viewer", 200),
    ("GET", E + "/summary"): Rule("viewer", 200),
    ("POST", E + "/cancel"): Rule("owner", 200),
    ("PATCH", E): Rule("owner", 200, {"notes": "checked"}, on="cancelled"),
    ("POST", E + "/archive"): Rule("owner", 200, on="cancelled"),
    ("POST", E + "/restore"): Rule("owner", 200, on="cancelled"),
    ("GET", "/api/v1/sweeps"): Rule("viewer", 200),
    ("GET", R): Rule("viewer", 200),
    ("PATCH", R): Rule("owner", 200, {"tags": ["checked"], "notes": "fine"}),  # any status
    ("POST", R + "/retry"): Rule("owner", 409),  # a queued run: allowed, but not retryable
    ("POST", R + "/cancel"): Rule("owner", 409, on="cancelled"),  # allowed; already over
    ("POST", R + "/exclude"): Rule("owner", 200, {"reason": "bad node"}, on="cancelled"),
    ("POST", R + "/include"): Rule("owner", 409),  # allowed; the queued run is not excluded
    ("POST", "/api/v1/searches"): Rule("member", 422, {}),  # allowed; an empty spec
    ("GET", "/api/v1/searches"): Rule("viewer", 200),
    ("GET", "/api/v1/searches/{search_id}"): Rule("viewer", 404),
    # Allowed to members; the owner check follows the lookup, and there is no such search.
    ("POST", "/api/v1/searches/{search_id}/cancel"): Rule("member", 404),
}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every API route, included routers expanded."""
    return sorted(
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        for method in route.methods or ()
    )


ROUTES = api_routes(route_app())


def expected(rule: Rule, who: str) -> int:
    if rule.allows == "public":
        return rule.ok
    if who in REFUSED:
        return 401
    denied = {
        "viewer": (),
        "member": ("viewer",),
        "owner": ("viewer", "other"),
        "admin": ("viewer", "member", "other"),
    }[rule.allows]
    return 403 if who in denied else rule.ok


@dataclass
class World:
    client: TestClient
    db: Database
    params: dict[str, str]


def _token(db: Database, name: str, **changes: Any) -> str:
    with db.transaction() as session:
        user = accounts.require_user(session, name)
        token, secret = accounts.new_token(session, user=user, name="matrix")
        for key, value in changes.items():
            setattr(token, key, value)
    return secret


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Four users and experiments of two members, on an app with accounts switched on."""
    root = Path(tmp_path_factory.mktemp("matrix"))
    app = make_app(root, auth="accounts", api_token=None)
    db = app.state.db
    with db.transaction() as session:
        for role, name in USERS.items():
            accounts.add_user(session, name=name, password=PASSWORD,
                              role="member" if role == "other" else role)
        accounts.add_user(session, name="gone", password=PASSWORD, role="admin").disabled = True
    with TestClient(app, base_url="http://testserver") as client:
        ids = {}
        for name in ("mia", "mia", "max", "mia"):
            auth = {"Authorization": f"Bearer {_token(db, name)}"}
            submitted = client.post("/api/v1/experiments", json=tiny_spec(name), headers=auth)
            assert submitted.status_code == 201, submitted.text
            ids.setdefault(name, []).append(submitted.json())
        # Mia's first experiment is read and cancelled; a run of her second stays queued.
        params = {"experiment_id": str(ids["mia"][0]["id"]),
                  "run_id": str(ids["mia"][1]["runs"][0]["id"]),
                  "sweep_id": "no-such-sweep", "name": "vera", "token_id": "999999",
                  "search_id": "999999"}
        params["preset"] = "demo-digits"
        cancelled = ids["mia"][2]
        mia = {"Authorization": f"Bearer {_token(db, 'mia')}"}
        cancel = client.post(f"/api/v1/experiments/{cancelled['id']}/cancel", headers=mia)
        assert cancel.status_code == 200, cancel.text
        params["cancelled_experiment_id"] = str(cancelled["id"])
        params["cancelled_run_id"] = str(cancelled["runs"][0]["id"])
        yield World(client, db, params)


def credentials(world: World, who: str) -> dict[str, str]:
    """Fresh credentials of `who` for one request (a logout revokes only its own)."""
    if who == "none":
        return {}
    if who == "revoked":
        secret = _token(world.db, "ada", revoked=utcnow())
    elif who == "expired":
        secret = _token(world.db, "ada", expires=utcnow() - timedelta(seconds=1))
    elif who == "disabled":
        secret = _token(world.db, "gone")
    else:
        secret = _token(world.db, USERS[who])
    return {"Authorization": f"Bearer {secret}"}


def _url(path: str, params: dict[str, str], on: str = "") -> str:
    values = {**params, "name": params["preset"] if "/presets/" in path else params["name"]}
    if on:
        values.update(experiment_id=params[f"{on}_experiment_id"], run_id=params[f"{on}_run_id"])
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_route_has_an_expectation_and_every_expectation_a_route() -> None:
    missing = [route for route in ROUTES if route not in EXPECTED]
    assert not missing, f"routes without a line in EXPECTED (who may call them?): {missing}"
    stale = [route for route in EXPECTED if route not in ROUTES]
    assert not stale, f"EXPECTED names routes the app no longer has: {stale}"


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("method, path", ROUTES)
def test_route_answers_each_caller_as_expected(
    world: World, method: str, path: str, who: str
) -> None:
    rule = EXPECTED.get((method, path))
    if rule is None:
        pytest.fail(f"{method} {path} has no line in EXPECTED: decide who may call it")
    body = rule.body
    if path == "/api/v1/users" and method == "POST":  # a new name each time it is allowed
        body = {**body, "name": f"newcomer-{who}"}
    response = world.client.request(
        method, _url(path, world.params, rule.on), headers=credentials(world, who), json=body,
        params=rule.params,
    )
    assert response.status_code == expected(rule, who), (method, path, who, response.text)
    if response.status_code == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_the_expired_and_revoked_tokens_are_really_stored(world: World) -> None:
    """The 401s above come from the tokens' state, not from unknown secrets."""
    with world.db.session() as session:
        kinds = {(t.revoked is not None, t.expires is not None) for t in session.query(ApiToken)}
    assert (True, False) in kinds and (False, True) in kinds
