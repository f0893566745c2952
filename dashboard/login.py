"""Sign-in: when the API asks for credentials, nothing but this form shows until they are good.

The form asks for what the API's INITLAB_AUTH wants (a user name and password, or the shared
token); the token it gets stays on the server, found again after a reload or in a new tab
through a cookie that holds only a session key (dashboard/sessions.py).
"""

from __future__ import annotations

import streamlit as st

from dashboard import sessions
from dashboard.client import (
    SESSION_TOKEN,
    ApiError,
    ApiUnavailable,
    Client,
    Config,
    client_for,
    get_client,
)

USER = "initlab_user"  # st.session_state key: {"name", "role"} of the signed-in caller


def _mode(url: str) -> str | None:
    """The API's INITLAB_AUTH, or None when it does not answer (the pages then say so)."""
    try:
        return client_for(url, None).auth_mode()
    except ApiError as error:  # an API from before accounts: the shared token or nothing
        return "token" if error.status == 401 else None
    except ApiUnavailable:
        return None


def _forget() -> None:
    for key in (SESSION_TOKEN, USER):
        st.session_state.pop(key, None)


def _signed_in(client: Client) -> bool:
    """True while this session's token is still good (a revoked one signs the user out)."""
    if not sessions.alive():  # signed out in another tab
        _forget()
        sessions.end()
        return False
    if st.session_state.get(SESSION_TOKEN) is None:
        token = sessions.resume()  # a reload or a new tab of a signed-in browser
        if token is None:
            return False
        st.session_state[SESSION_TOKEN] = token
        client = get_client()
    try:
        st.session_state[USER] = client.me()
    except ApiError as error:
        if error.status != 401:
            raise
        _forget()
        sessions.end()
        st.info("Your session ended; sign in again.")
        return False
    except ApiUnavailable:
        return True  # the pages report the unreachable API themselves
    return True


def _form(url: str, mode: str) -> None:
    """The sign-in form; on success the token goes into the session and the app reruns."""
    st.title("InitLab")
    with st.form("sign-in"):
        if mode == "accounts":
            name = st.text_input("User name", key="sign-in-name")
            secret = st.text_input("Password", type="password", key="sign-in-password")
        else:
            name, secret = "", st.text_input("API token", type="password", key="sign-in-token")
        if not st.form_submit_button("Sign in", type="primary"):
            return
    try:
        if mode == "accounts":
            token = client_for(url, None).login(name.strip(), secret)["token"]
        else:
            token = secret.strip()
            Client(Config(url, token)).me()  # not a cached client: wrong guesses keep none
    except ApiError as error:  # the API's words: how many tries are left, or how long to wait
        wrong = mode == "token" and error.status == 401
        st.error("Wrong token." if wrong else " ".join(error.lines).capitalize())
        return
    except ApiUnavailable as error:
        st.error(f"Cannot sign in: {error}")
        return
    st.session_state[SESSION_TOKEN] = token
    sessions.start(token)
    st.rerun()


def _sidebar(client: Client) -> None:
    user = st.session_state.get(USER) or {}
    with st.sidebar:
        who = user.get("name") or "the shared token"
        st.caption(f":material/person: {who} ({user.get('role', '?')})")
        if st.button("Sign out", key="sign-out", icon=":material/logout:"):
            client.logout()
            _forget()
            sessions.end()
            st.rerun()


def require_sign_in() -> bool:
    """True when the pages may show; otherwise only the sign-in form is drawn."""
    url = Config.from_env().url
    mode = _mode(url)
    if mode is None:  # the pages say the API is unreachable; a signed-in user stays signed in
        return True
    if mode == "none":
        _forget()
        return True
    signed_in = _signed_in(get_client())
    sessions.write_cookie()
    if not signed_in:
        _form(url, mode)
        return False
    _sidebar(get_client())
    return True
