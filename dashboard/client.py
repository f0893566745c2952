"""The dashboard's client of the InitLab REST API: apiclient with a page's short timeouts.

Every call has a short timeout so a slow or absent API never freezes a page; failures come back
as `ApiUnavailable` (nothing answered) or `ApiError` (the API answered 4xx/5xx, with its lines).
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
import streamlit as st

import apiclient
from apiclient import LIVE_TIMEOUT, METRIC_PAGE, ApiError, Config, problem_path
from apiclient import Unreachable as ApiUnavailable

__all__ = ["METRIC_PAGE", "ApiError", "ApiUnavailable", "Client", "Config", "client_for",
           "get_client", "problem_path"]

# Seconds. Connecting is local or LAN-fast; reads cover a summary of a large experiment.
TIMEOUT = httpx.Timeout(5.0, connect=1.5)


class Client(apiclient.Client):
    """apiclient.Client with the dashboard's timeouts; one httpx pool per API address."""

    def __init__(self, config: Config, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(config, transport=transport, timeout=TIMEOUT)

    def auth_mode(self) -> str:
        """GET /auth/mode: accounts, token or none (what the sign-in form asks for)."""
        return str(self._request("GET", "/auth/mode", timeout=LIVE_TIMEOUT)["mode"])

    def login(self, name: str, password: str) -> dict[str, Any]:
        """POST /auth/login: a session token and the user (ApiError 401 or 429 otherwise)."""
        return dict(self._request("POST", "/auth/login", json={"name": name, "password": password}))

    def me(self) -> dict[str, Any]:
        """GET /auth/me: whose credentials this client sends, and their role."""
        return dict(self._request("GET", "/auth/me", timeout=LIVE_TIMEOUT))

    def logout(self) -> None:
        """POST /auth/logout: the session token stops working."""
        # The dashboard forgets the token either way; unreachable, the session expires by itself.
        with contextlib.suppress(httpx.HTTPError):
            self._http.post("/auth/logout", timeout=LIVE_TIMEOUT)

    def exclude(self, run_id: int, reason: str, by: str | None = None) -> dict[str, Any]:
        """POST /runs/{id}/exclude: leave the run out of the statistics, saying why."""
        body = {"reason": reason, "by": by or None}
        return dict(self._request("POST", f"/runs/{run_id}/exclude", json=body))

    def include(self, run_id: int) -> dict[str, Any]:
        """POST /runs/{id}/include: count an excluded run again."""
        return dict(self._request("POST", f"/runs/{run_id}/include"))

    def import_results(self, document: dict[str, Any]) -> dict[str, Any]:
        """POST /experiments/import: store a results.json document as a finished experiment."""
        return dict(self._request("POST", "/experiments/import", json=document))


@st.cache_resource(show_spinner=False)
def client_for(url: str, token: str | None) -> Client:
    """The shared client of one API address and token."""
    return Client(Config(url, token))


SESSION_TOKEN = "initlab_token"  # st.session_state key: the signed-in user's token (login.py)


def get_client() -> Client:
    """The client of the API at INITLAB_API_URL with this browser session's own token.

    Never a token of the server's environment: whoever opens the dashboard signs in
    (dashboard/login.py) and the API sees their credentials and role.
    """
    url = Config.from_env().url
    return client_for(url, st.session_state.get(SESSION_TOKEN))
