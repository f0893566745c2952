"""Live: a panel that refreshes itself every 2 s while runs are active.

Its curve comes computed from the API (/curves banded over repeats, /lines down-sampled per run),
as on the Experiment page, so a session holds a few hundred points, never the metric rows; the
API answers a tick from its result cache unless an epoch or a run's state changed.
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.charts import SPLIT_LABELS, CurveView, curve_series, plotly_figure
from dashboard.client import ApiError, ApiUnavailable, get_client
from dashboard.curve_settings import METRICS, SPLITS
from dashboard.ui import FINISHED, pick_experiment, progress_line

client = get_client()
REFRESH = "2s"


def _running_frame(experiment: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame([
        {"Run": r["run_id"], "Arm": r["arm"], "Repeat": r["repeat"], "Phase": r["phase"],
         "Epoch": r["epoch"], "Progress": r["epochs_done"] / max(1, r["epochs_total"])}
        for r in experiment["progress"]["running"]
    ])


def _fetch(eid: int, view: CurveView) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The experiment, its /curves body and (with the overlay) its /lines body, uncached."""
    common: dict[str, Any] = {"split": view.split, "metric": view.metric, "phase": view.phase}
    experiment = client.experiment(eid, live=True)
    curves = client.curves(eid, band=view.band, **common)
    lines = client.lines(eid, **common) if view.overlay else {"arms": {}}
    return experiment, curves, lines


def _panel(eid: int, arms: list[str], view: CurveView) -> None:
    """Progress, running runs and the curve, as the API computes them now."""
    started = time.perf_counter()
    try:
        experiment, curves, lines = _fetch(eid, view)
    except (ApiUnavailable, ApiError) as error:
        st.warning(f"Live update paused: {error}. Showing what arrived before; retrying every "
                   f"{REFRESH}.", icon=":material/power_off:")
        cached = st.session_state.get(f"live-last-{eid}")
        if cached is None:
            return
        experiment, curves, lines = cached
    st.session_state[f"live-last-{eid}"] = (experiment, curves, lines)
    cost_ms = 1000 * (time.perf_counter() - started)
    st.progress(experiment["progress"]["fraction"],
                text=f"{experiment['status']} — {progress_line(experiment)}")
    running = _running_frame(experiment)
    if not running.empty:
        st.dataframe(running, hide_index=True, key="running", column_config={
            "Progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0)})
    series = curve_series(curves, view, arms, lines)
    st.plotly_chart(plotly_figure(series, view), key="live_chart")
    points = sum(len(s.xs) for s in series)
    st.caption(f"{points} curve points from the API in {cost_ms:.0f} ms · updated "
               f"{time.strftime('%H:%M:%S')}")
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
    phases = client.phases(eid)
except (ApiUnavailable, ApiError) as error:
    st.error(f"Cannot load experiment {eid}: {error}", icon=":material/power_off:")
    first, phases = (st.session_state.get(f"live-last-{eid}") or (None,))[0], []
if first is None:
    st.stop()
arms = [arm["name"] for arm in first["spec"]["arms"]]
st.subheader(f"#{eid} {first['name']}")
cols = st.columns(4)
split = cols[0].selectbox("Split", SPLITS, key="live_split", format_func=SPLIT_LABELS.get)
metric = cols[1].selectbox("Metric", METRICS, key="live_metric")
phase = cols[2].selectbox("Phase", ["main", *(p for p in phases if p != "main")],
                          key="live_phase")
overlay = cols[3].toggle("Individual runs", key="live_overlay")
view = CurveView(split=split, metric=metric, phase=phase, overlay=overlay)
running = first["status"] not in FINISHED
st.session_state["live-running"] = running
st.caption(f"Refreshing every {REFRESH}" if running else "Finished: not refreshing.")
st.fragment(_panel, run_every=REFRESH if running else None)(eid, arms, view)
