"""Small UI pieces the pages share: API error display, the experiment picker, the health badge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from dashboard.client import ApiError, ApiUnavailable, Client, client_for

T = TypeVar("T")
FINISHED = ("done", "failed", "cancelled")
# The session key of whether an experiment's runs are active (the Experiment page's timer).
ACTIVE = "experiment-active"
# Plain text symbols (DejaVu has them): emoji need a colour-emoji font many servers lack.
STATUS_ICONS = {"queued": "○", "running": "▶", "done": "✓", "failed": "✗", "cancelled": "■"}


def show_error(error: Exception, what: str) -> None:
    """Say what failed: an unreachable API, or the API's own error lines."""
    if isinstance(error, ApiUnavailable):
        st.error(f"Cannot {what}: {error}. Is the API running? "
                 "(set INITLAB_API_URL to point the dashboard elsewhere)",
                 icon=":material/power_off:")
    elif isinstance(error, ApiError):
        st.error(f"Cannot {what} (HTTP {error.status}):\n\n"
                 + "\n".join(f"- {line}" for line in error.lines))
    else:
        raise error


def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """fn(*args, **kwargs), or None after showing why the API call failed."""
    try:
        return fn(*args, **kwargs)
    except (ApiUnavailable, ApiError) as error:
        show_error(error, what)
        return None


def experiment_id() -> int | None:
    """The experiment named in the URL (?experiment=ID), if any and valid."""
    raw = st.query_params.get("experiment")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        st.warning(f"?experiment={raw!r} is not an experiment id; pick one below.")
        return None


def pick_experiment(client: Client, key: str) -> int | None:
    """The experiment in the URL, or one the user picks (which is then put in the URL)."""
    chosen = experiment_id()
    if chosen is not None:
        return chosen
    page = call("list experiments", client.experiments, limit=100)
    if page is None:
        return None
    if not page["items"]:
        st.info("No experiments yet: submit the demo (it runs in a few CPU minutes).")
        st.page_link("views/submit.py", label="Submit the demo", icon=":material/send:")
        return None
    labels = {e["id"]: f"#{e['id']} {e['name']} ({e['status']})" for e in page["items"]}
    picked = st.selectbox("Experiment", list(labels), format_func=labels.__getitem__,
                          index=None, key=key, placeholder="Choose an experiment")
    if picked is not None:
        st.query_params["experiment"] = str(picked)
    return picked


def progress_line(experiment: dict[str, Any]) -> str:
    """'done/total runs · N running · N failed' for one experiment, and why queued runs wait
    ('waiting for a cuda worker') when no live worker can take them."""
    p = experiment["progress"]
    parts = [f"{p['runs_done']}/{p['runs_total']} runs done"]
    for key, label in (("runs_running", "running"), ("runs_queued", "queued"),
                       ("runs_failed", "failed"), ("runs_cancelled", "cancelled")):
        if p[key]:
            parts.append(f"{p[key]} {label}")
    if experiment.get("waiting"):
        parts.append(experiment["waiting"])
    return " · ".join(parts)


@st.cache_data(ttl=5, show_spinner=False)
def _health(url: str, token: str | None) -> dict[str, Any]:
    try:
        return client_for(url, token).health()
    except (ApiUnavailable, ApiError) as error:
        return {"status": "unreachable", "error": str(error), "workers": []}


def sidebar_health(client: Client) -> None:
    """Where the API is and whether it answers (checked at most every 5 s), with its workers."""
    health = _health(client.config.url, client.config.token)
    with st.sidebar:
        st.caption(f"API: `{client.url}`")
        if health["status"] == "unreachable":
            st.caption(f":red[:material/error:] unreachable — {health['error']}")
            return
        icon = ":green[:material/check_circle:]" if health.get("status") == "ok" else (
            ":orange[:material/warning:]")
        workers = health.get("workers", [])  # listed only to a signed-in caller
        st.caption(f"{icon} {health.get('status')} · {len(workers)} live worker(s)")
