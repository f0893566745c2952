"""A real browser signs in to a dashboard whose API has INITLAB_AUTH=accounts: before that only
the form shows; a wrong password is refused, repeated ones are throttled; the pages then act
as the user (their experiment, its owner), and sign-out revokes the session. Under
INITLAB_AUTH=token (the dashboard tests' shared service) the form asks for the token.

One API (uvicorn, no worker: nothing here trains) and one dashboard for the module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from store import accounts
from store.db import get_database, upgrade
from store.models import ApiToken
from tests.dashboard.conftest import ROUTER, SHOTS, browser_page, sign_in, streamlit_server
from tests.service.servers import TOKEN, Backend, Service, tiny_spec

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def accounts_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, int]]:
    """The API with accounts on, users mia (member) and vera (viewer), and mia's experiment."""
    root = Path(tmp_path_factory.mktemp("login-backend"))
    url = f"sqlite:///{root / 'initlab.db'}"
    upgrade(url)
    (root / "data").mkdir()
    with get_database(url).transaction() as session:
        mia = accounts.add_user(session, name="mia", password=PASSWORD, role="member")
        accounts.add_user(session, name="vera", password=PASSWORD, role="viewer")
        _, secret = accounts.new_token(session, user=mia, name="setup")
    service = Service(Backend("sqlite", {
        "INITLAB_DATABASE_URL": url, "INITLAB_BROKER_URL": "filesystem://",
        "INITLAB_BROKER_DIR": str(root / "broker"), "INITLAB_DATA_ROOT": str(root / "data"),
        "INITLAB_QUEUE_NAME": "initlab", "INITLAB_AUTH": "accounts",
    }), root)
    try:
        service.start_api()
        submitted = httpx.post(f"{service.url}/api/v1/experiments", json=tiny_spec("mias"),
                               headers={"Authorization": f"Bearer {secret}"})
        assert submitted.status_code == 201, submitted.text
        yield service, submitted.json()["id"]
    finally:
        service.stop()


@pytest.fixture(scope="module")
def dashboard(accounts_api: tuple[Service, int]) -> Iterator[str]:
    service, _ = accounts_api
    with streamlit_server(service.url, service.logs / "dashboard.log") as (url, _):
        yield url


@pytest.fixture
def page(request: pytest.FixtureRequest, dashboard: str) -> Iterator[Any]:
    """A fresh browser per test (each test signs in from nothing); a failure leaves a screenshot."""
    with browser_page(30_000) as tab:
        yield tab
        if getattr(request.node, "call_failed", False):  # set by conftest's report hook
            tab.screenshot(path=SHOTS / "login-failure.png", full_page=True)


def _sign_in_form(page: Any) -> None:
    page.get_by_label("Password", exact=True).wait_for()
    page.get_by_role("button", name="Sign in").wait_for()
    # Nothing else: no navigation, no page (what an earlier run drew fades out as it ends).
    for hidden in ("Experiments", "Submit", "Live"):
        page.get_by_role("link", name=hidden).wait_for(state="detached")
    page.get_by_text("mias").wait_for(state="detached")


def test_only_the_form_until_signed_in_then_the_users_own_pages_until_sign_out(
    page: Any, dashboard: str, accounts_api: tuple[Service, int]
) -> None:
    service, eid = accounts_api
    page.goto(f"{dashboard}/?experiment={eid}")
    _sign_in_form(page)
    page.screenshot(path=SHOTS / "login-01-form.png", full_page=True)
    page.get_by_label("User name", exact=True).fill("mia")
    page.get_by_label("Password", exact=True).fill("not her password")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong user name or password (4 more").wait_for()
    _sign_in_form(page)

    sign_in(page, f"{dashboard}/?experiment={eid}", name="mia", password=PASSWORD)
    page.get_by_role("heading", name="mias").wait_for()  # the bookmark survives signing in
    page.get_by_text("owner mia").wait_for()
    page.get_by_text("mia (member)").wait_for()
    page.get_by_role("button", name="Sign in").wait_for(state="detached")  # the form is gone
    page.screenshot(path=SHOTS / "login-02-signed-in.png", full_page=True)
    with get_database(service.backend.env["INITLAB_DATABASE_URL"]).session() as session:
        live = session.query(ApiToken).filter_by(kind="session", revoked=None).count()
    assert live == 1
    page.reload()  # the session outlives the page load (dashboard/sessions.py), as mia still
    page.get_by_text("mia (member)").wait_for()
    page.get_by_role("heading", name="mias").wait_for()

    page.get_by_role("button", name="Sign out").click()
    _sign_in_form(page)
    page.reload()  # signed out for good: the cookie's key is forgotten
    _sign_in_form(page)
    with get_database(service.backend.env["INITLAB_DATABASE_URL"]).session() as session:
        assert session.query(ApiToken).filter_by(kind="session", revoked=None).count() == 0


def test_repeated_failed_sign_ins_are_throttled_in_the_dashboard(
    page: Any, dashboard: str, accounts_api: tuple[Service, int]
) -> None:
    service, _ = accounts_api
    page.goto(dashboard)
    for attempt in range(5):
        page.get_by_label("User name", exact=True).fill("vera")
        page.get_by_label("Password", exact=True).fill(f"guess {attempt}")
        page.get_by_role("button", name="Sign in").click()
        # Each answer differs from the last, so a stale one is never taken for it.
        left = f"({4 - attempt} more failed sign-in(s)"
        page.get_by_text("Too many failed sign-ins" if attempt == 4 else left).wait_for()
    page.get_by_label("Password", exact=True).fill(PASSWORD)  # even the right one waits now
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_timeout(2000)  # the answer repeats the last one's words: give it time to land
    page.get_by_text("try again in").wait_for()
    _sign_in_form(page)
    assert page.get_by_role("button", name="Sign out").count() == 0
    with get_database(service.backend.env["INITLAB_DATABASE_URL"]).session() as session:
        assert session.query(ApiToken).join(ApiToken.user).filter_by(name="vera").count() == 0
    page.screenshot(path=SHOTS / "login-03-throttled.png", full_page=True)


def test_under_the_shared_token_the_form_asks_for_it(dashboard_env: Service) -> None:
    """AppTest: the dashboard's own INITLAB_API_TOKEN (set by dashboard_env) is not used."""
    at = AppTest.from_file(str(ROUTER), default_timeout=60).run()
    assert [t.label for t in at.text_input] == ["API token"]
    assert [t.value for t in at.title] == ["InitLab"]  # the form and nothing else
    at.text_input(key="sign-in-token").input(TOKEN[:-1])
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong token."]
    at.text_input(key="sign-in-token").input(TOKEN)
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "API token" not in [t.label for t in at.text_input]
    assert "Sign out" in [b.label for b in at.button]
