"""Experiment (/experiment?experiment=ID): curves with bands, Tables I–V, statistics, runs, exports.

While runs are active the page redraws itself every few seconds (a fragment on a timer) and
stops once nothing runs; every figure comes computed from the API, so a tick costs a few small
cached requests, never the experiment's metric rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.provenance import is_imported, provenance_lines
from dashboard.annotations import tags_and_notes
from dashboard.charts import CurveView
from dashboard.client import get_client
from dashboard.curves_tab import curves_tab, panel_series, url_view
from dashboard.export import (
    FIGURE_FORMATS,
    TABLE_FORMATS,
    excluded_csv,
    figure_bytes,
    file_stem,
    table_text,
)
from dashboard.runs_tab import runs_tab
from dashboard.tables import stopped_early_line
from dashboard.tables_tab import fetch_summary, tables_tab
from dashboard.ui import ACTIVE, FINISHED, call, pick_experiment, progress_line

client = get_client()
TICK = 5  # seconds between redraws while runs are active
TABS = ("Curves", "Tables", "Runs", "Exports")


def _header(experiment: dict[str, Any]) -> None:
    eid = experiment["id"]
    st.title(f"#{eid} {experiment['name']}")
    p = experiment["progress"]
    st.progress(p["fraction"], text=f"{experiment['status']} — {progress_line(experiment)}")
    stopped = stopped_early_line(experiment)
    if stopped:
        st.success(stopped, icon=":material/done_all:")
    cols = st.columns([1, 1, 1, 1, 3], vertical_alignment="center")
    if cols[0].button("Refresh", key="refresh", help="fetch everything again now"):
        st.cache_data.clear()  # e.g. after a run was retried afresh
    cols[1].page_link("views/live.py", label="Live view", icon=":material/sensors:",
                      query_params={"experiment": str(eid)})
    cols[2].page_link("views/compare.py", label="Compare", icon=":material/compare_arrows:",
                      query_params={"experiments": str(eid)})
    finished = experiment["status"] in FINISHED
    if cols[3].button("Cancel", key="cancel", disabled=finished):  # noqa: SIM102
        if call("cancel the experiment", client.cancel, eid) is not None:
            st.rerun()
    baseline = experiment["spec"]["baseline"]
    owner = experiment.get("owner") or "—"  # none under the shared token or no auth
    cols[4].caption(f"Bookmark: `?experiment={eid}` · baseline `{baseline}` · owner {owner}")
    tags_and_notes(client, experiment)
    provenance = experiment.get("provenance")
    if is_imported(provenance):  # every tab of an imported experiment says where it came from
        for line in provenance_lines(provenance):
            st.warning(line, icon=":material/input:")
    if experiment.get("sweep_id"):
        st.page_link("views/sweep.py", label="One point of a sweep: compare every point",
                     icon=":material/tune:", query_params={"sweep": experiment["sweep_id"]})


def _figure_file(series: Any, view: CurveView, fmt: str) -> Callable[[], bytes]:
    """The figure drawn only when its download button is pressed."""
    return lambda: figure_bytes(series, view, fmt)


def _exports_tab(experiment: dict[str, Any], summary: Any, view: CurveView, series: Any) -> None:
    stem = file_stem(experiment)
    st.markdown("**Tables** — every selection rule, paired statistics and preprocessing cost")
    if summary and summary.get("arms"):
        cols = st.columns(len(TABLE_FORMATS))
        for col, (fmt, (mime, _)) in zip(cols, TABLE_FORMATS.items(), strict=True):
            col.download_button(f"Tables .{fmt}", table_text(summary, fmt), f"{stem}.{fmt}",
                                mime, key=f"download_{fmt}")
    else:
        st.caption("No tables yet.")
    if summary and summary.get("excluded"):
        st.download_button(f"Excluded runs .csv ({len(summary['excluded'])})",
                           excluded_csv(summary), f"{stem}-excluded.csv", "text/csv",
                           key="download_excluded",
                           help="the runs left out of these tables, with why, who and when")
    st.markdown(f"**Figure** — {view.title}")
    if any(s.xs for s in series):
        cols = st.columns(len(FIGURE_FORMATS))
        for col, (fmt, mime) in zip(cols, FIGURE_FORMATS.items(), strict=True):
            col.download_button(
                f"Figure .{fmt}", _figure_file(series, view, fmt),
                f"{stem}-{view.split}-{view.metric}-{view.phase}.{fmt}", mime,
                key=f"download_{fmt}",
            )
    else:
        st.caption("No curve to export yet.")


def _page(eid: int) -> None:
    """The whole page; a fragment, so the timer redraws it without rerunning the app."""
    experiment = call(f"load experiment {eid}", client.experiment, eid)
    if experiment is None:
        return
    active = experiment["status"] not in FINISHED
    if st.session_state.get(f"{ACTIVE}-{eid}") != active:  # start or stop the timer: rerun the app
        st.session_state[f"{ACTIVE}-{eid}"] = active
        st.rerun(scope="app")
    _header(experiment)
    arms = [arm["name"] for arm in experiment["spec"]["arms"]]
    phases = call("list the phases", client.phases, eid) or ["main"]
    if "main" not in phases:
        phases.append("main")
    # Only the open tab is drawn (and asks the API anything); the tab is in the URL (?tab=).
    curves, tables, runs, exports = st.tabs(TABS, key="tab", bind="query-params")
    if curves.open:
        with curves:
            curves_tab(eid, arms, phases)
    if tables.open:
        with tables:
            tables_tab(experiment, arms)
    if runs.open:
        with runs:
            runs_tab(experiment)
    if exports.open:
        with exports:
            view = url_view(phases)
            summary = fetch_summary(eid, unfinished=experiment["status"] != "done")
            _exports_tab(experiment, summary, view, panel_series(eid, arms, view) or [])
    if active:
        st.caption(f"Runs are active: this page updates every {TICK} s.")


eid = pick_experiment(client, key="experiment_pick")
if eid is None:
    st.stop()
if f"{ACTIVE}-{eid}" not in st.session_state:  # ask once, so a finished one draws only once
    first = call(f"load experiment {eid}", client.experiment, eid)
    st.session_state[f"{ACTIVE}-{eid}"] = first is None or first["status"] not in FINISHED
active = st.session_state[f"{ACTIVE}-{eid}"]
st.fragment(run_every=TICK if active else None)(_page)(eid)
