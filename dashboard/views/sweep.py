"""Sweep (/sweep?sweep=ID): each sweep point's status, the selected figure against the swept value
with a band over repeats, and the paired difference to the baseline at each point."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import streamlit as st

from core.stats.summary import METRICS, PAIRED_SPLITS, RULES
from dashboard.charts import SPLIT_LABELS, paired_sweep_figure, sweep_figure
from dashboard.client import METRIC_PAGE, client_for, get_client
from dashboard.live import MAX_PAGES, runs_from_rows, store_for
from dashboard.sweeps import (
    POINT_BAND_LABELS,
    POINT_BANDS,
    SweepAxis,
    arms_of,
    experiments_frame,
    paired_points,
    paired_points_frame,
    points_frame,
    sweep_axis,
    sweep_points,
)
from dashboard.tables import PAPER_WARNING
from dashboard.ui import FINISHED, call

client = get_client()
RECENT = 500  # the newest experiments scanned for the sweep picker (the API's largest page)
SETTLED = "sweep-settled"  # ids of finished experiments whose metric rows are all held


@dataclass(frozen=True)
class View:
    """What the charts show: one split, metric and rule; the band; unfinished runs or not."""

    split: str
    metric: str
    rule: str
    band: str
    unfinished: bool

    @property
    def unit(self) -> str:
        return "accuracy (%)" if self.metric == "accuracy" else "loss (cross-entropy)"


@st.cache_data(ttl=600, show_spinner=False)
def _spec(url: str, token: str | None, eid: int) -> dict[str, Any]:
    return dict(client_for(url, token).experiment(eid)["spec"])  # a spec never changes


@st.cache_data(ttl=3, show_spinner=False)
def _summary(url: str, token: str | None, eid: int, unfinished: bool) -> dict[str, Any]:
    return client_for(url, token).summary(eid, include_unfinished=unfinished)


@st.cache_data(ttl=3, show_spinner=False)
def _run_statuses(url: str, token: str | None, eid: int) -> dict[int, str]:
    return {int(r["id"]): str(r["status"]) for r in client_for(url, token).runs(eid)}


@st.cache_data(ttl=10, show_spinner=False)
def _recent_sweeps(url: str, token: str | None) -> dict[str, str]:
    """sweep id -> a label, newest first, from the newest experiments."""
    sweeps: dict[str, str] = {}
    for e in client_for(url, token).experiments(limit=RECENT)["items"]:
        if e.get("sweep_id") and e["sweep_id"] not in sweeps:
            base = e["name"].split(" {", 1)[0]
            sweeps[e["sweep_id"]] = f"{base} · {e['sweep_id'][:8]} · {str(e['created'])[:16]}"
    return sweeps


def _pick_sweep() -> str | None:
    """The sweep in the URL, or one the user picks (which is then put in the URL)."""
    chosen = st.query_params.get("sweep")
    if chosen:
        return chosen
    cfg = client.config
    sweeps = call("list experiments", _recent_sweeps, cfg.url, cfg.token)
    if sweeps is None:
        return None
    if not sweeps:
        st.info("No sweeps yet — submit a spec with a `sweep:` block on the Submit page.")
        return None
    picked = st.selectbox("Sweep", list(sweeps), format_func=sweeps.__getitem__, index=None,
                          key="sweep_pick", placeholder="Choose a sweep")
    if picked is not None:
        st.query_params["sweep"] = picked
    return picked


def _header(sweep: dict[str, Any]) -> None:
    experiments = sweep["experiments"]
    st.title(f"Sweep: {experiments[0]['name'].split(' {', 1)[0]}")
    done = sum(e["progress"]["runs_done"] for e in experiments)
    total = sum(e["progress"]["runs_total"] for e in experiments)
    st.progress(sweep["fraction"], text=f"{sweep['status']} — {len(experiments)} sweep "
                                        f"point(s), {done}/{total} runs done")
    cols = st.columns([1, 5], vertical_alignment="center")
    if cols[0].button("Refresh", key="refresh", help="reload everything, metric rows included"):
        for e in experiments:  # e.g. after a run was retried afresh
            st.session_state.pop(f"metrics-{e['id']}", None)
        st.session_state.pop(SETTLED, None)
    cols[1].caption(f"Bookmark: `?sweep={sweep['id']}`")


def _controls(status: str, axis: SweepAxis) -> tuple[View, SweepAxis]:
    cols = st.columns(4)
    split = cols[0].selectbox("Split", PAIRED_SPLITS, key="sweep_split",
                              format_func=lambda s: SPLIT_LABELS[s])
    metric = cols[1].selectbox("Metric", METRICS, key="sweep_metric")
    rule = cols[2].selectbox("Selection rule", RULES, key="sweep_rule",
                             help="val_loss: the epoch of lowest validation loss (honest); "
                                  "final: the last epoch; paper: the paper's arithmetic")
    band = cols[3].selectbox("Band over repeats", list(POINT_BANDS), key="sweep_band",
                             format_func=lambda b: POINT_BAND_LABELS[b])
    row = st.columns(2)
    unfinished = row[0].toggle("Include unfinished runs (partial figures)", value=status != "done",
                               key="sweep_unfinished")
    if axis.numeric:
        axis = replace(axis, log=row[1].toggle("Log-scale x axis", value=axis.log,
                                               key="sweep_log_x"))
    if rule == "paper":
        st.warning(PAPER_WARNING, icon=":material/warning:")
    view = View(split=str(split), metric=str(metric), rule=str(rule), band=str(band),
                unfinished=unfinished)
    return view, axis


def _runs(experiment: dict[str, Any], unfinished: bool) -> list[dict[str, Any]]:
    """The experiment's runs with their main-phase rows (core.stats' form); done runs only
    unless `unfinished`. Rows are fetched by cursor and kept in the session."""
    eid = int(experiment["id"])
    store = store_for(st.session_state, eid)
    settled: set[int] = st.session_state.setdefault(SETTLED, set())
    finished = experiment["status"] in FINISHED
    if not finished:
        settled.discard(eid)  # e.g. a run was retried
    if eid not in settled:
        added = call(f"load the metric rows of experiment {eid}", store.update, client)
        if finished and added is not None and added < MAX_PAGES * METRIC_PAGE:
            settled.add(eid)  # a finished experiment writes no more rows
    rows = [r for r in store.rows if r["phase"] == "main"]
    progress = experiment["progress"]
    if not unfinished and progress["runs_done"] < progress["runs_total"]:
        cfg = client.config
        statuses = call("list the runs", _run_statuses, cfg.url, cfg.token, eid) or {}
        rows = [r for r in rows if statuses.get(int(r["run_id"])) == "done"]
    return runs_from_rows(rows)


def _metric_section(
    experiments: list[dict[str, Any]], axis: SweepAxis, arms: list[str], view: View
) -> None:
    runs = {int(e["id"]): _runs(e, view.unfinished) for e in experiments}
    points = sweep_points(experiments, runs, arms, rule=view.rule, split=view.split,
                          metric=view.metric, band=view.band)
    split = SPLIT_LABELS[view.split]
    st.subheader(f"{split.capitalize()} {view.metric} against {axis.title}")
    if not any(p["median"] is not None for p in points):
        st.info(f"No {split} {view.metric} yet: no run has finished. Include unfinished runs to "
                "see partial figures.")
        return
    band = POINT_BAND_LABELS[view.band]
    title = f"{split} {view.metric}, rule {view.rule} — median and {band} over repeats"
    st.plotly_chart(sweep_figure(points, axis, arms, title=title, y_label=view.unit,
                                 band_label=band), key="sweep_chart")
    st.caption("One colour per arm; one point per sweep point. Each run contributes the figure "
               "its selection rule picks; bands are drawn only where at least 2 runs did.")
    st.dataframe(points_frame(points, experiments, axis, view.metric), hide_index=True,
                 key="sweep_points")


def _paired_section(
    experiments: list[dict[str, Any]], axis: SweepAxis, arms: list[str], view: View
) -> None:
    cfg = client.config
    summaries = {
        int(e["id"]): call(f"load the summary of experiment {e['id']}", _summary, cfg.url,
                           cfg.token, int(e["id"]), view.unfinished)
        for e in experiments
    }
    points = paired_points(experiments, summaries, rule=view.rule, split=view.split,
                           metric=view.metric)
    st.subheader("Paired difference to the baseline")
    unit = "percentage points" if view.metric == "accuracy" else "loss"
    st.caption(f"Arm minus baseline per repeat, mean and 95% CI, in {unit}. A negative loss "
               "difference or a positive accuracy difference favours the arm.")
    if not any(p["mean_diff"] is not None for p in points):
        st.caption("No paired figures yet (they need finished runs of the baseline and an arm).")
        return
    title = f"{SPLIT_LABELS[view.split]} {view.metric}, rule {view.rule}: arm − baseline"
    st.plotly_chart(paired_sweep_figure(points, axis, arms, title=title,
                                        y_label=f"difference ({unit})"), key="paired_chart")
    st.dataframe(paired_points_frame(points, experiments, axis), hide_index=True,
                 key="paired_table")


sweep_id = _pick_sweep()
if sweep_id is None:
    st.stop()
sweep = call(f"load sweep {sweep_id}", client.sweep, sweep_id)
if sweep is None:
    st.stop()
experiments = sweep["experiments"]
_header(sweep)
axis = sweep_axis(experiments)
st.dataframe(
    experiments_frame(experiments, axis), hide_index=True, key="sweep_table",
    column_config={
        "Progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                    format="percent"),
        "Open": st.column_config.LinkColumn(display_text="open"),
    },
)
cfg = client.config
specs = [call(f"load experiment {e['id']}", _spec, cfg.url, cfg.token, int(e["id"]))
         for e in experiments]
arms = arms_of(s for s in specs if s is not None)
view, axis = _controls(sweep["status"], axis)
_metric_section(experiments, axis, arms, view)
_paired_section(experiments, axis, arms, view)
