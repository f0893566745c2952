"""Compare (/compare?experiments=3,5): two or more experiments' arms overlaid in one chart on one
axis, and their primary comparisons side by side."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.stats.curves import BANDS, X_AXES
from dashboard.charts import BAND_LABELS, SPLIT_LABELS, X_LABELS, CurveView, plotly_figure
from dashboard.client import get_client
from dashboard.compare import (
    MAX_EXPERIMENTS,
    label,
    overlay_series,
    parse_ids,
    primary_mismatch,
    primary_of,
)
from dashboard.curve_settings import METRICS, SPLITS
from dashboard.curves_tab import fetch_curves
from dashboard.tables import primary_frame, primary_title
from dashboard.tables_tab import fetch_summary
from dashboard.ui import call

client = get_client()


def _pick() -> list[int]:
    """The experiments named in the URL, or picked here (then written to the URL)."""
    page = call("list experiments", client.experiments, limit=100)
    if page is None:
        return []
    if not page["items"]:
        st.info("No experiments yet: submit the demo, then compare it with a second run of it.")
        st.page_link("views/submit.py", label="Submit the demo", icon=":material/send:")
        return []
    names = {e["id"]: label(e) for e in page["items"]}
    if "compare_pick" not in st.session_state:
        st.session_state.compare_pick = parse_ids(st.query_params.get("experiments"))
    for eid in st.session_state.compare_pick:  # an id from the URL beyond the newest 100
        names.setdefault(eid, f"#{eid}")
    chosen = st.multiselect("Experiments", list(names), key="compare_pick",
                            format_func=names.__getitem__, max_selections=MAX_EXPERIMENTS,
                            placeholder="Choose two or more experiments")
    st.query_params["experiments"] = ",".join(map(str, chosen))
    return list(chosen)


def _view(first: dict[str, Any]) -> CurveView:
    split, metric, _ = primary_of(first)
    cols = st.columns(4)
    split = cols[0].selectbox("Split", SPLITS, index=SPLITS.index(split), key="compare_split",
                              format_func=SPLIT_LABELS.get)
    metric = cols[1].selectbox("Metric", METRICS, index=METRICS.index(metric),
                               key="compare_metric")
    x = cols[2].selectbox("X axis", X_AXES, key="compare_x", format_func=X_LABELS.get,
                          help="examples trained on counts every phase: the fair axis")
    band = cols[3].selectbox("Band", BANDS, key="compare_band", format_func=BAND_LABELS.get)
    return CurveView(split=split, metric=metric, x=x, band=band)


def _chart(experiments: list[dict[str, Any]], view: CurveView) -> None:
    bodies = []
    for experiment in experiments:
        body = fetch_curves(experiment["id"], split=view.split, metric=view.metric,
                            phase="main", band=view.band, x=view.x)
        if body is not None:
            bodies.append((experiment, body))
    series = overlay_series(bodies, view)
    if not any(s.xs for s in series):
        st.caption("No curves yet: none of these experiments has a finished epoch.")
        return
    title = f"{view.panel_title}, main phase — {view.centre} and {view.band_label}"
    st.plotly_chart(plotly_figure(series, view, title=title), key="compare_chart")


def _tables(experiments: list[dict[str, Any]]) -> None:
    st.subheader("Primary comparisons")
    warning = primary_mismatch(experiments)
    if warning:
        st.warning(warning, icon=":material/warning:")
    for col, experiment in zip(st.columns(len(experiments)), experiments, strict=True):
        with col:
            st.markdown(f"**{label(experiment)}** · baseline `{experiment['spec']['baseline']}`")
            summary = fetch_summary(experiment["id"], experiment["status"] != "done")
            frame = primary_frame(summary or {})
            if frame.empty:
                st.caption("No paired figures yet (they need finished runs).")
                continue
            st.caption(primary_title(summary or {}))
            st.dataframe(frame, hide_index=True, key=f"compare_table_{experiment['id']}")
            for note in (summary or {}).get("notes", []):
                if note.startswith("excluded:"):
                    st.caption(note)


st.title("Compare experiments")
chosen = _pick()
if len(chosen) < 2:
    st.caption("Pick two or more experiments: their arms share one chart (labelled '#id arm') "
               "and their primary comparisons stand side by side. The link keeps the choice.")
    st.stop()
loaded = [call(f"load experiment {eid}", client.experiment, eid) for eid in chosen]
experiments = [e for e in loaded if e is not None]
if len(experiments) >= 2:
    _chart(experiments, _view(experiments[0]))
    _tables(experiments)
