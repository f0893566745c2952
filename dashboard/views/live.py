"""Live: a panel that refreshes itself every 2 s, fetching only the metric rows it lacks."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from core.run_lines import run_lines
from core.stats import band as band_edges
from core.stats import curve_stats
from dashboard.charts import SPLIT_LABELS, CurveView, curve_series, plotly_figure
from dashboard.client import ApiError, ApiUnavailable, get_client
from dashboard.live import MetricStore, store_for
from dashboard.ui import FINISHED, pick_experiment, progress_line

client = get_client()
REFRESH = "2s"


def _curves_from(store: MetricStore, arms: list[str], view: CurveView) -> dict[str, Any]:
    """The /curves body computed here from the rows already held, so nothing is refetched."""
    runs = store.runs()
    out: dict[str, list[dict[str, Any]]] = {}
    for arm in arms:
        rows = curve_stats(runs, arm, view.phase, view.split, view.metric)
        for row in rows:
            row["low"], row["high"] = band_edges(row, view.band)
        out[arm] = rows
    return {"arms": out}


def _lines_from(store: MetricStore, arms: list[str], view: CurveView) -> dict[str, Any]:
    """The /lines body (each run's own line) computed here from the rows already held."""
    if not view.overlay:
        return {"arms": {}}
    runs = store.runs()
    return {"arms": {arm: run_lines(runs, arm, view.phase, view.split, view.metric)
                     for arm in arms}}


def _running_frame(experiment: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([
        {"Run": r["run_id"], "Arm": r["arm"], "Repeat": r["repeat"], "Phase": r["phase"],
         "Epoch": r["epoch"], "Progress": r["epochs_done"] / max(1, r["epochs_total"])}
        for r in experiment["progress"]["running"]
    ])


def _panel(eid: int, arms: list[str], view: CurveView) -> None:
    """Progress, running runs and the curve, from the rows fetched since the last tick."""
    store = store_for(st.session_state, eid)
    try:
        experiment = client.experiment(eid, live=True)
        added = store.update(client, live=True)
    except (ApiUnavailable, ApiError) as error:
        st.warning(f"Live update paused: {error}. Showing what arrived before; retrying every "
                   f"{REFRESH}.", icon=":material/power_off:")
        cached: dict[str, Any] | None = st.session_state.get(f"live-experiment-{eid}")
        if cached is None:
            return
        experiment, added = cached, 0
    st.session_state[f"live-experiment-{eid}"] = experiment
    st.progress(experiment["progress"]["fraction"],
                text=f"{experiment['status']} — {progress_line(experiment)}")
    running = _running_frame(experiment)
    if not running.empty:
        st.dataframe(running, hide_index=True, key="running", column_config={
            "Progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)})
    lines = _lines_from(store, arms, view)
    series = curve_series(_curves_from(store, arms, view), view, arms, lines)
    st.plotly_chart(plotly_figure(series, view), key="live_chart")
    st.caption(f"{len(store.rows)} metric rows held, {added} new · cursor {store.cursor} · "
               f"{store.fetches} fetches · updated {time.strftime('%H:%M:%S')}")
    if experiment["status"] in FINISHED and st.session_state.get("live-running", False):
        st.session_state["live-running"] = False
        st.rerun(scope="app")  # stop the timer: the experiment has finished


st.title("Live")
eid = pick_experiment(client, key="live_pick")
if eid is None:
    st.stop()
first: dict[str, Any] | None
try:
    first = client.experiment(eid, live=True)
except (ApiUnavailable, ApiError) as error:
    st.error(f"Cannot load experiment {eid}: {error}", icon=":material/power_off:")
    first = st.session_state.get(f"live-experiment-{eid}")
if first is None:
    st.stop()
arms = [arm["name"] for arm in first["spec"]["arms"]]
st.subheader(f"#{eid} {first['name']}")
cols = st.columns(4)
split = cols[0].selectbox("Split", ["val", "train", "test", "sample"], key="live_split",
                          format_func=lambda s: SPLIT_LABELS[s])
metric = cols[1].selectbox("Metric", ["loss", "accuracy"], key="live_metric")
phases = store_for(st.session_state, eid).phases()
phase = cols[2].selectbox("Phase", phases, key="live_phase")
overlay = cols[3].toggle("Individual runs", key="live_overlay")
view = CurveView(split=split, metric=metric, phase=phase, overlay=overlay)
running = first["status"] not in FINISHED
st.session_state["live-running"] = running
st.caption(f"Refreshing every {REFRESH}" if running else "Finished: not refreshing.")
st.fragment(_panel, run_every=REFRESH if running else None)(eid, arms, view)
