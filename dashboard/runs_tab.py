"""The Experiment page's Runs tab: a sortable, filterable runs table, exclusions, a run's tags
and notes, environments, the spec."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
import yaml

from dashboard.client import get_client
from dashboard.exclusions import exclusions_panel, strike_excluded
from dashboard.run_notes import run_notes_panel
from dashboard.tables import environment, init_schemes, runs_frame
from dashboard.ui import call

RETRYABLE = ("failed", "cancelled")


def filtered(frame: pd.DataFrame, text: str, statuses: list[str], arms: list[str]) -> pd.DataFrame:
    """Rows whose status and arm are chosen (all when none) and that mention `text` anywhere
    (host, error, tags, notes, ...)."""
    keep = pd.Series(True, index=frame.index)
    if statuses:
        keep &= frame["Status"].isin(statuses)
    if arms:
        keep &= frame["Arm"].isin(arms)
    if text.strip():
        needle = text.strip().lower()
        keep &= frame.apply(lambda row: needle in " ".join(map(str, row)).lower(), axis=1)
    return frame[keep]


def _filters(frame: pd.DataFrame) -> pd.DataFrame:
    cols = st.columns([2, 1.5, 1.5])
    text = cols[0].text_input("Filter", key="runs_filter", placeholder="host, error, tag, note …")
    statuses = cols[1].multiselect("Status", sorted(frame["Status"].unique()), key="runs_status")
    arms = cols[2].multiselect("Arm", list(dict.fromkeys(frame["Arm"])), key="runs_arm")
    return filtered(frame, text, statuses, arms)


def _retry(runs: list[dict[str, Any]]) -> None:
    retryable = [r["id"] for r in runs if r["status"] in RETRYABLE]
    if not retryable:
        return
    cols = st.columns([2, 1, 1], vertical_alignment="bottom")
    run_id = cols[0].selectbox("Run to retry", retryable, key="retry_run")
    fresh = cols[1].checkbox("From scratch", key="retry_fresh",
                             help="drop its checkpoint and metrics instead of resuming")
    if cols[2].button("Retry run", key="retry"):  # noqa: SIM102
        if call(f"retry run {run_id}", get_client().retry, run_id, fresh=fresh) is not None:
            st.rerun()


def runs_tab(experiment: dict[str, Any]) -> None:
    """Draw the tab: the runs with their selected figures (val_loss rule), then the details."""
    client = get_client()
    eid = experiment["id"]
    runs = call("list the runs", client.runs, eid)
    if runs is None:
        return
    selected = call("load the selected epochs", client.selected, eid) or []
    frame = runs_frame(runs, selected, init_schemes(experiment["spec"]))
    shown = _filters(frame)
    st.dataframe(strike_excluded(shown), hide_index=True, key="runs_table")
    st.caption(f"{len(shown)} of {len(frame)} runs. Click a column's header to sort. Selected "
               "epoch: lowest validation loss (the val_loss rule). Struck through: excluded.")
    _retry(runs)
    exclusions_panel(runs)
    run_notes_panel(runs)
    with st.expander("A run's environment"):
        by_id = {r["id"]: r for r in runs}
        run_id = st.selectbox("Run", list(by_id), key="env_run",
                              format_func=lambda i: f"#{i} {by_id[i]['arm']}, repeat "
                                                    f"{by_id[i]['repeat']}")
        if run_id is not None:
            st.json(environment(by_id[run_id]))
    with st.expander("The experiment's spec (YAML)"):
        st.code(yaml.safe_dump(experiment["spec"], sort_keys=False), language="yaml")
