"""Accounts end to end, in-process on one SQLite store: hashed passwords and tokens, sign-in and
sign-out, personal tokens, the failed-login throttle, owners, /health, and the CLI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select, text
from typer.testing import CliRunner

from api.throttle import LoginThrottle
from initlab.commands.users import token_app, users_app
from store import accounts
from store.config import Settings
from store.db import Database
from store.models import ApiToken, User
from tests.reliability.inprocess import AUTH, make_app
from tests.service.servers import tiny_spec

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """INITLAB_AUTH=accounts, with a member (mia), a viewer (vera) and an admin (ada)."""
    app = make_app(Path(tmp_path_factory.mktemp("accounts")), auth="accounts", api_token=None)
    with app.state.db.transaction() as session:
        for name, role in (("mia", "member"), ("vera", "viewer"), ("ada", "admin")):
            accounts.add_user(session, name=name, password=PASSWORD, role=role)
    with TestClient(app, base_url="http://testserver/api/v1") as test_client:
        yield test_client


def _db(client: TestClient) -> Database:
    db: Database = client.app.state.db  # type: ignore[attr-defined]
    return db


def login(client: TestClient, name: str, password: str = PASSWORD, **kw: Any) -> Any:
    return client.post("/auth/login", json={"name": name, "password": password}, **kw)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_passwords_and_tokens_are_stored_only_hashed(client: TestClient) -> None:
    secret = login(client, "mia").json()["token"]
    with _db(client).session() as session:
        user = accounts.require_user(session, "mia")
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        dump = " ".join(str(row) for row in session.execute(text("SELECT * FROM api_token")))
        digest = hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in dump and digest in dump and secret[:12] in dump


def test_sign_in_gives_a_session_that_sign_out_ends(client: TestClient) -> None:
    answer = login(client, "mia")
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    assert answer.json()["user"] == {"name": "mia", "role": "member", "mode": "accounts"}
    assert client.get("/auth/me", headers=bearer(token)).json()["name"] == "mia"
    assert client.post("/auth/logout", headers=bearer(token)).status_code == 204
    assert client.get("/auth/me", headers=bearer(token)).status_code == 401
    assert login(client, "mia", "wrong password").status_code == 401
    assert login(client, "nobody").status_code == 401


def test_a_personal_token_is_shown_once_listed_without_its_secret_and_revocable(
    client: TestClient,
) -> None:
    session = bearer(login(client, "vera").json()["token"])
    made = client.post("/auth/tokens", json={"name": "notebook", "expires_days": 30},
                       headers=session)
    assert made.status_code == 201, made.text
    secret, token_id = made.json()["token"], made.json()["id"]
    assert client.get("/experiments", headers=bearer(secret)).status_code == 200
    listed = client.get("/auth/tokens", headers=session).json()
    assert [t["name"] for t in listed] == ["notebook"] and secret not in str(listed)
    assert listed[0]["expires"] is not None and listed[0]["prefix"] == secret[:12]
    assert client.delete(f"/auth/tokens/{token_id}", headers=session).status_code == 204
    assert client.get("/experiments", headers=bearer(secret)).status_code == 401
    assert client.delete(f"/auth/tokens/{token_id}", headers=bearer(
        login(client, "mia").json()["token"])).status_code == 404  # not mia's to revoke


def test_repeated_failed_sign_ins_are_throttled_per_name_and_client(client: TestClient) -> None:
    throttle: LoginThrottle = client.app.state.login_throttle  # type: ignore[attr-defined]
    now = [1000.0]
    throttle.clock = lambda: now[0]
    try:
        answers = [login(client, "ada", "wrong password") for _ in range(5)]
        assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
        assert "(1 more failed sign-in(s) and this name waits 300 s)" in answers[3].text
        refused = login(client, "ada")  # the right password does not get through either
        assert refused.status_code == 429 and "try again in" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) == 300
        other_client = TestClient(client.app, base_url="http://testserver/api/v1",
                                  client=("10.0.0.9", 5000))
        assert login(other_client, "ada").status_code == 200  # another address is not locked
        assert login(client, "vera").status_code == 200  # nor another name
        now[0] += 301
        assert login(client, "ada").status_code == 200
        assert login(client, "ada", "wrong password").status_code == 401  # counting anew
    finally:
        throttle.clock = lambda: 0.0
        throttle.succeeded(("ada", "testclient"))


def test_the_throttle_counts_failures_within_the_window_only() -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=3, lockout=60, clock=lambda: now[0])
    key = ("ann", "1.2.3.4")
    for t in (0, 30, 61, 62):  # the first failure is older than the window by the third
        now[0] = t
        throttle.failed(key)
    assert throttle.retry_after(key) == 28  # at 62 the oldest counted (30) ages out at 90
    now[0] = 90
    assert throttle.retry_after(key) is None


def test_disabled_users_and_their_tokens_stop_at_once(client: TestClient) -> None:
    admin = bearer(login(client, "ada").json()["token"])
    made = client.post("/users", json={"name": "leo", "password": PASSWORD, "role": "viewer"},
                       headers=admin)
    assert made.status_code == 201 and made.json()["role"] == "viewer"
    assert client.post("/users", json={"name": "leo", "password": PASSWORD},
                       headers=admin).status_code == 409
    weak = client.post("/users", json={"name": "kim", "password": "short"}, headers=admin)
    assert weak.status_code == 422 and "at least 8" in weak.text
    leo = bearer(login(client, "leo").json()["token"])
    assert client.patch("/users/leo", json={"disabled": True}, headers=admin).status_code == 200
    assert client.get("/auth/me", headers=leo).status_code == 401
    assert login(client, "leo").status_code == 401
    assert client.patch("/users/nobody", json={"role": "admin"}, headers=admin).status_code == 404


def test_experiments_record_and_show_their_owner(client: TestClient) -> None:
    mia = bearer(login(client, "mia").json()["token"])
    submitted = client.post("/experiments", json=tiny_spec("owned"), headers=mia)
    assert submitted.status_code == 201, submitted.text
    eid = submitted.json()["id"]
    assert client.get(f"/experiments/{eid}", headers=mia).json()["owner"] == "mia"
    listed = client.get("/experiments", headers=mia).json()["items"]
    assert {e["id"]: e["owner"] for e in listed}[eid] == "mia"


def test_health_says_only_ok_unless_signed_in(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    for secret in ("ilt_not-a-token", "garbage"):
        assert client.get("/health", headers=bearer(secret)).json() == {"status": "ok"}
    full = client.get("/health", headers=bearer(login(client, "vera").json()["token"])).json()
    assert {"version", "database", "broker", "workers"} <= set(full)


def test_the_shared_token_acts_as_an_admin_and_owns_nothing(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path), base_url="http://testserver/api/v1") as shared:
        assert shared.get("/auth/me", headers=AUTH).json() == {
            "name": None, "role": "admin", "mode": "token"}
        submitted = shared.post("/experiments", json=tiny_spec("shared"), headers=AUTH)
        eid = submitted.json()["id"]
        assert shared.get(f"/experiments/{eid}", headers=AUTH).json()["owner"] is None
        assert shared.post(f"/experiments/{eid}/cancel", headers=AUTH).status_code == 200
        assert login(shared, "mia").status_code == 409  # no accounts in this mode


def test_settings_refuse_a_mode_without_what_it_needs() -> None:
    with pytest.raises(ValidationError, match="INITLAB_AUTH=token needs INITLAB_API_TOKEN"):
        Settings(auth="token")
    assert Settings(environment="production", auth="accounts").auth_mode == "accounts"
    with pytest.raises(ValidationError, match="INITLAB_AUTH=accounts"):
        Settings(environment="production", auth="none")
    assert Settings().auth_mode == "none" and Settings(api_token="x" * 16).auth_mode == "token"


def test_cli_adds_users_from_stdin_and_prints_the_token_alone_last(client: TestClient) -> None:
    runner, url = CliRunner(), ["--database-url", _db(client).url]
    added = runner.invoke(users_app, ["add", "cli-user", "--role", "viewer", *url],
                          input=PASSWORD + "\n")
    assert added.exit_code == 0, added.output
    assert login(client, "cli-user").status_code == 200
    made = runner.invoke(token_app, ["create", "--user", "cli-user", "--expires-days", "1", *url])
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip().splitlines()[-1]
    assert made.stdout.strip() == secret and secret.startswith("ilt_")
    assert client.get("/auth/me", headers=bearer(secret)).json()["name"] == "cli-user"
    listed = runner.invoke(token_app, ["list", "--user", "cli-user", "--json", *url])
    token_id = json.loads(listed.stdout)[0]["id"]
    assert runner.invoke(token_app, ["revoke", str(token_id), "--user", "cli-user", *url]
                         ).exit_code == 0
    assert client.get("/auth/me", headers=bearer(secret)).status_code == 401
    for argv, line in (
        (["set-role", "cli-user", "admin"], "now admin"),
        (["disable", "cli-user"], "disabled"),
        (["list"], "cli-user  admin   True"),
    ):
        done = runner.invoke(users_app, [*argv, *url])
        assert done.exit_code == 0 and line in done.stdout, done.output
    assert login(client, "cli-user").status_code == 401


def test_cli_errors_are_one_line(client: TestClient) -> None:
    runner, url = CliRunner(), ["--database-url", _db(client).url]
    for app, argv, input_, message in (
        (users_app, ["add", "mia"], PASSWORD, "user 'mia' exists already"),
        (users_app, ["add", "new-one"], "short", "at least 8 characters"),
        (users_app, ["add", "Bad Name"], PASSWORD, "lower-case letters"),
        (users_app, ["disable", "nobody"], None, "no user 'nobody'"),
        (token_app, ["revoke", "999", "--user", "mia"], None, "has no token 999"),
    ):
        result = runner.invoke(app, [*argv, *url], input=input_)
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1, (argv, result.output)
        assert lines[0].startswith("initlab: error: ") and message in lines[0]
    with _db(client).session() as session:
        assert session.scalar(select(User).where(User.name == "new-one")) is None
        assert session.scalar(select(ApiToken).where(ApiToken.id == 999)) is None
