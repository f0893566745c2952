"""A signed-in dashboard session survives a reload and a new tab, with nothing secret in the URL
or readable as the token in the browser; signing out in one tab ends it in every tab."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import SHOTS, browser_page, sign_in
from tests.service.servers import TOKEN

pytestmark = pytest.mark.slow


def signed_in(page: object) -> None:
    page.get_by_role("button", name="Sign out").wait_for()  # type: ignore[attr-defined]
    assert page.get_by_role("button", name="Sign in").count() == 0  # type: ignore[attr-defined]


def test_a_session_survives_reload_and_a_new_tab_until_signed_out_anywhere(
    dashboard_url: str,
) -> None:
    with browser_page(60_000) as first:
        try:
            sign_in(first, f"{dashboard_url}/experiments")
            first.get_by_role("heading", name="Experiments").wait_for()
            first.wait_for_timeout(1000)  # the cookie's frame runs once the page is drawn
            cookies = {c["name"]: c for c in first.context.cookies()}
            assert "initlab_dashboard" in cookies  # a key, not the token
            assert TOKEN not in str(cookies)
            assert cookies["initlab_dashboard"]["sameSite"] == "Strict"

            first.reload()
            signed_in(first)
            first.get_by_role("heading", name="Experiments").wait_for()
            assert TOKEN not in first.url and "token" not in first.url

            second = first.context.new_page()
            second.goto(f"{dashboard_url}/submit")
            signed_in(second)
            second.get_by_role("heading", name="Submit an experiment").wait_for()
            assert TOKEN not in second.url

            first.get_by_role("button", name="Sign out").click()
            first.get_by_role("button", name="Sign in").wait_for()
            second.get_by_role("link", name="Experiments").click()  # its next run
            second.get_by_role("button", name="Sign in").wait_for()
            first.reload()
            first.get_by_role("button", name="Sign in").wait_for()
            assert first.get_by_role("button", name="Sign out").count() == 0
        except Exception:
            first.screenshot(path=SHOTS / "failure-session.png", full_page=True)
            raise
