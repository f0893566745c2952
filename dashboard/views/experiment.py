"""Experiment (/?experiment=ID): curves with bands, Tables I–V, paired statistics, runs, exports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from core.provenance import is_imported, provenance_lines
from core.stats import BANDS, METRICS, RULES
from dashboard.charts import BAND_LABELS, CENTRES, SPLIT_LABELS, CurveView, curve_series
from dashboard.charts import plotly_figure as build_figure
from dashboard.client import client_for, get_client
from dashboard.export import FIGURE_FORMATS, TABLE_FORMATS, figure_bytes, file_stem, table_text
from dashboard.live import store_for
from dashboard.tables import (
    PAPER_WARNING,
    RULE_LABELS,
    at_epoch_rows,
    equal_compute_frame,
    only_rule,
    paired_frame,
    preprocessing_frame,
    primary_frame,
    primary_title,
    runs_frame,
    split_frames,
    stopped_early_line,
    with_table,
)
from dashboard.ui import FINISHED, call, pick_experiment, progress_line

client = get_client()
AT_EPOCH = "epoch"


@st.cache_data(ttl=3, show_spinner=False)
def _curves(url: str, token: str | None, eid: int, **params: str) -> dict[str, Any]:
    return client_for(url, token).curves(eid, **params)


@st.cache_data(ttl=3, show_spinner=False)
def _summary(url: str, token: str | None, eid: int, unfinished: bool) -> dict[str, Any]:
    return client_for(url, token).summary(eid, include_unfinished=unfinished)


def _header(experiment: dict[str, Any]) -> None:
    eid = experiment["id"]
    st.title(f"#{eid} {experiment['name']}")
    p = experiment["progress"]
    st.progress(p["fraction"], text=f"{experiment['status']} — {progress_line(experiment)}")
    stopped = stopped_early_line(experiment)
    if stopped:
        st.success(stopped, icon=":material/done_all:")
    cols = st.columns([1, 1, 1, 3], vertical_alignment="center")
    if cols[0].button("Refresh", key="refresh", help="reload everything, metric rows included"):
        st.session_state.pop(f"metrics-{eid}", None)  # e.g. after a run was retried afresh
    cols[1].page_link("views/live.py", label="Live view", icon=":material/sensors:",
                      query_params={"experiment": str(eid)})
    finished = experiment["status"] in FINISHED
    if cols[2].button("Cancel", key="cancel", disabled=finished):  # noqa: SIM102
        if call("cancel the experiment", client.cancel, eid) is not None:
            st.rerun()
    baseline = experiment["spec"]["baseline"]
    cols[3].caption(f"Bookmark: `?experiment={eid}` · baseline `{baseline}`")
    provenance = experiment.get("provenance")
    if is_imported(provenance):  # every tab of an imported experiment says where it came from
        for line in provenance_lines(provenance):
            st.warning(line, icon=":material/input:")
    if experiment.get("sweep_id"):
        st.page_link("views/sweep.py", label="One point of a sweep: compare every point",
                     icon=":material/tune:", query_params={"sweep": experiment["sweep_id"]})


def _curve_controls(phases: list[str]) -> CurveView:
    row1 = st.columns(4)
    split = row1[0].selectbox("Split", ["val", "train", "test", "sample"], key="split",
                              format_func=lambda s: SPLIT_LABELS[s])
    metric = row1[1].selectbox("Metric", list(METRICS), key="metric")
    phase = row1[2].selectbox("Phase", phases, key="phase",
                              help="main, or a pre-training stage (the paper's Fig. 3)")
    centre = row1[3].selectbox("Centre line", list(CENTRES), key="centre")
    row2 = st.columns(4, vertical_alignment="bottom")
    band = row2[0].selectbox("Band", list(BANDS), key="band",
                             format_func=lambda b: BAND_LABELS[b])
    x_from = row2[1].number_input("From epoch", min_value=0, value=0, step=1, key="x_from")
    overlay = row2[2].toggle("Individual runs", key="overlay")
    log_y = row2[3].toggle("Log scale", key="log_y")
    return CurveView(split=str(split), metric=str(metric), phase=str(phase),
                     centre=str(centre), band=str(band),
                     log_y=log_y, x_from=int(x_from), overlay=overlay)


def _curves_tab(eid: int, arms: list[str], rows: list[dict[str, Any]], phases: list[str]) -> Any:
    view = _curve_controls(phases)
    cfg = client.config
    curves = call("load the curves", _curves, cfg.url, cfg.token, eid, split=view.split,
                  metric=view.metric, phase=view.phase, band=view.band)
    if curves is None:
        return view, []
    series = curve_series(curves, view, arms, rows)
    if not any(s.epochs for s in series):
        st.info(f"No {view.split} {view.metric} in the {view.phase} phase yet.")
        return view, series
    st.plotly_chart(build_figure(series, view), key="curve_chart")
    st.caption("One colour per arm. Hover a point for n, the runs that reached that epoch; "
               "bands are drawn only where at least 2 runs did.")
    return view, series


def _table_choice(rows: list[dict[str, Any]]) -> tuple[str, int | None]:
    main_epochs = sorted({int(r["epoch"]) for r in rows if r["phase"] == "main"})
    options = [*RULES, AT_EPOCH]
    labels = {**RULE_LABELS, AT_EPOCH: "selected epoch — figures at one epoch"}
    rule = st.radio("Selection rule", options, key="rule", format_func=labels.get,
                    horizontal=True)
    epoch = None
    if rule == AT_EPOCH:
        if not main_epochs:
            st.info("No main-phase epoch measured yet.")
            return rule, None
        epoch = int(st.selectbox("Epoch", main_epochs, index=len(main_epochs) - 1,
                                 key="table_epoch"))
    if rule == "paper":
        st.warning(PAPER_WARNING, icon="⚠️")
    return rule, epoch


def _tables_tab(experiment: dict[str, Any], arms: list[str], rows: list[dict[str, Any]]) -> Any:
    eid = experiment["id"]
    unfinished = st.toggle("Include unfinished runs (partial figures)", key="unfinished",
                           value=experiment["status"] != "done")
    cfg = client.config
    summary = call("load the summary", _summary, cfg.url, cfg.token, eid, unfinished)
    if summary is None:
        return None
    _primary_panel(summary)
    rule, epoch = _table_choice(rows)
    shown = rule
    if rule == AT_EPOCH and epoch is not None:
        shown = f"epoch {epoch}"
        summary = with_table(summary, shown, at_epoch_rows(rows, arms, epoch, shown))
    table = summary.get("tables", {}).get(shown, [])
    if not table:
        st.info("No figures yet: no run has finished. Include unfinished runs to see partial "
                "figures.")
        return summary
    for split, frame in split_frames(table).items():
        st.markdown(f"**{SPLIT_LABELS.get(split, split).capitalize()}** set")
        st.table(frame.set_index("Arm"))
    rules = [*RULES, shown]
    for note in summary.get("notes", []):
        if note.startswith(f"{shown}:") or not any(note.startswith(f"{r}:") for r in rules):
            st.caption(f"Note: {note}")
    with st.expander("As Tables I–V lay them out"):
        st.markdown(table_text(only_rule(summary, shown), "md"))
    st.subheader(f"Paired comparison with {summary.get('baseline')}")
    paired = paired_frame(summary, rule if rule != AT_EPOCH else "val_loss")
    if rule == AT_EPOCH:
        st.caption("Paired statistics follow a selection rule; shown here for val_loss.")
    st.caption("Arm minus baseline per repeat; accuracy in percentage points. A negative loss "
               "difference or a positive accuracy difference favours the arm.")
    if paired.empty:
        st.caption("No paired figures yet (they need finished runs of the baseline and an arm).")
    else:
        st.table(paired.set_index(["Role", "Split", "Metric", "Arm"]))
    _equal_compute_panel(summary)
    st.subheader("Preprocessing cost")
    st.caption("Mean preprocessing time as a share of main training time (paper: 2% and 25%).")
    costs = preprocessing_frame(summary)
    if costs.empty:
        st.caption("No finished run has reported its times yet.")
    else:
        st.table(costs.set_index("Arm"))
    return summary


def _primary_panel(summary: dict[str, Any]) -> None:
    """The pre-declared comparison first: effect, its confidence sequence and the decision."""
    primary = primary_frame(summary)
    if primary.empty:
        return
    st.subheader(f"Primary comparison: {primary_title(summary)}")
    st.caption("Declared before the runs. The sequence is anytime-valid: watching it here and "
               "stopping when it is decided keeps its error rate. Every other comparison below "
               "is secondary (Holm-adjusted p).")
    st.table(primary.set_index("Arm"))


def _equal_compute_panel(summary: dict[str, Any]) -> None:
    frame = equal_compute_frame(summary)
    if frame.empty:
        return
    st.subheader("Equal compute")
    st.caption((summary.get("equal_compute") or {}).get("compares", ""))
    st.table(frame.set_index(["Split", "Metric", "Arm"]))


def _runs_tab(eid: int) -> None:
    runs = call("list the runs", client.runs, eid)
    if runs is None:
        return
    st.dataframe(runs_frame(runs), hide_index=True, key="runs_table")
    retryable = [r["id"] for r in runs if r["status"] in ("failed", "cancelled")]
    if retryable:
        cols = st.columns([2, 1, 1], vertical_alignment="bottom")
        run_id = cols[0].selectbox("Run to retry", retryable, key="retry_run")
        fresh = cols[1].checkbox("From scratch", key="retry_fresh",
                                 help="drop its checkpoint and metrics instead of resuming")
        if cols[2].button("Retry run", key="retry"):  # noqa: SIM102
            if call(f"retry run {run_id}", client.retry, run_id, fresh=fresh) is not None:
                st.rerun()


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
    st.markdown(f"**Figure** — {view.title}")
    if any(s.epochs for s in series):
        cols = st.columns(len(FIGURE_FORMATS))
        for col, (fmt, mime) in zip(cols, FIGURE_FORMATS.items(), strict=True):
            col.download_button(
                f"Figure .{fmt}", _figure_file(series, view, fmt),
                f"{stem}-{view.split}-{view.metric}-{view.phase}.{fmt}", mime,
                key=f"download_{fmt}",
            )
    else:
        st.caption("No curve to export yet.")


eid = pick_experiment(client, key="experiment_pick")
if eid is None:
    st.stop()
experiment = call(f"load experiment {eid}", client.experiment, eid)
if experiment is None:
    st.stop()
_header(experiment)
arms = [arm["name"] for arm in experiment["spec"]["arms"]]
store = store_for(st.session_state, eid)
call("load the metric rows", store.update, client)
curves_tab, tables_tab, runs_tab, exports_tab = st.tabs(["Curves", "Tables", "Runs", "Exports"])
with curves_tab:
    view, series = _curves_tab(eid, arms, store.rows, store.phases())
with tables_tab:
    summary = _tables_tab(experiment, arms, store.rows)
with runs_tab:
    _runs_tab(eid)
with exports_tab:
    _exports_tab(experiment, summary, view, series)
