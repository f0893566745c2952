"""Sign-in that outlives a page load: a server-side session keyed by a browser cookie.

The API token never reaches the browser. After signing in, the dashboard keeps the token in
this process under a random key and puts only the key in a cookie (`initlab_dashboard`,
SameSite=Strict, path /). A reload or a new tab sends the cookie with its websocket handshake
(`st.context.cookies`) and finds the token again; signing out forgets the key, which ends every
tab's session at its next run. Keys live for INITLAB_SESSION_HOURS (12) and die with the
dashboard process.
"""

from __future__ import annotations

import os
import secrets
import threading
import time

import streamlit as st
import streamlit.components.v1 as components

COOKIE = "initlab_dashboard"
SESSION_KEY = "initlab_session_key"  # st.session_state: this tab's key in the store


def lifetime_seconds() -> float:
    """INITLAB_SESSION_HOURS (the API's login session lifetime) in seconds."""
    return float(os.environ.get("INITLAB_SESSION_HOURS") or 12) * 3600


class SessionStore:
    """key -> (token, expiry): the dashboard process's signed-in browsers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}

    def remember(self, token: str) -> str:
        key = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + lifetime_seconds())
        return key

    def token(self, key: str | None) -> str | None:
        """The token of a live key; None for an unknown, forgotten or expired one."""
        with self._lock:
            token, expiry = self._tokens.get(key or "", (None, 0.0))
            if token is not None and expiry < time.monotonic():
                del self._tokens[key or ""]
                return None
            return token

    def forget(self, key: str | None) -> None:
        with self._lock:
            self._tokens.pop(key or "", None)


@st.cache_resource(show_spinner=False)
def store() -> SessionStore:
    """The one store of this dashboard process (shared by every browser session)."""
    return SessionStore()


def start(token: str) -> None:
    """After a sign-in: remember the token and have the browser keep its key."""
    st.session_state[SESSION_KEY] = store().remember(token)


def resume() -> str | None:
    """The token of this browser's cookie, for a fresh tab or a reload; None if there is none."""
    key = st.context.cookies.get(COOKIE)
    token = store().token(key)
    if token is not None:
        st.session_state[SESSION_KEY] = key
    return token


def alive() -> bool:
    """False once this tab's session was signed out (in any tab) or expired."""
    key = st.session_state.get(SESSION_KEY)
    return key is None or store().token(key) is not None


def end() -> None:
    """Sign-out: forget the key (every tab of the browser) and drop the cookie."""
    store().forget(st.session_state.pop(SESSION_KEY, None))


def write_cookie() -> None:
    """Bring the browser's cookie in step with this tab's key: set it, or clear it."""
    key = st.session_state.get(SESSION_KEY) or ""
    if st.context.cookies.get(COOKIE, "") == key:  # what the browser sent when the tab opened
        return
    age = int(lifetime_seconds()) if key else 0
    # Drawn on every run until the next page load shows the browser has it: a run that follows
    # at once must not remove the frame before its script ran. The frame is of this origin
    # (srcdoc, allow-same-origin), so the cookie is the dashboard's.
    components.html(
        "<script>parent.document.cookie = '" + f"{COOKIE}={key}; path=/; max-age={age}; "
        "SameSite=Strict' + (parent.location.protocol === 'https:' ? '; Secure' : '');</script>",
        height=0,
    )
