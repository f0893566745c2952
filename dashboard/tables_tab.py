"""The Experiment page's Tables tab: Tables I–V per rule or epoch, paired and primary figures.

Everything comes computed from the API (/summary, and /curves for figures at one epoch).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.stats.summary import RULES
from dashboard.charts import SPLIT_LABELS
from dashboard.client import client_for, get_client
from dashboard.curves_tab import fetch_curves
from dashboard.export import table_text
from dashboard.tables import (
    PAPER_WARNING,
    RULE_LABELS,
    at_epoch_from_curves,
    equal_compute_frame,
    only_rule,
    paired_frame,
    preprocessing_frame,
    primary_frame,
    primary_title,
    split_frames,
    with_table,
)
from dashboard.ui import FINISHED, call

AT_EPOCH = "epoch"
TABLE_SPLITS = ("train", "val", "test")


@st.cache_data(ttl=3, show_spinner=False, max_entries=64)
def _summary(url: str, token: str | None, eid: int, unfinished: bool) -> dict[str, Any]:
    return client_for(url, token).summary(eid, include_unfinished=unfinished)


def fetch_summary(eid: int, unfinished: bool) -> dict[str, Any] | None:
    """GET /summary (cached 3 s), or None after showing why it failed."""
    cfg = get_client().config
    return call("load the summary", _summary, cfg.url, cfg.token, eid, unfinished)


def _main_epochs(eid: int, arms: list[str]) -> list[int]:
    """The main phase's measured epochs (from the validation-loss curve)."""
    curves = fetch_curves(eid, split="val", metric="loss", phase="main", band="iqr", x="epoch")
    arms_points = (curves or {}).get("arms", {})
    return sorted({int(p["epoch"]) for arm in arms for p in arms_points.get(arm, [])})


def _at_epoch(eid: int, arms: list[str], epoch: int, label: str) -> list[dict[str, Any]]:
    """Table rows at one main-phase epoch, from the per-epoch curves of each split and metric."""
    curves = {}
    for split in TABLE_SPLITS:
        for metric in ("loss", "accuracy"):
            body = fetch_curves(eid, split=split, metric=metric, phase="main", band="iqr",
                                x="epoch")
            curves[(split, metric)] = (body or {}).get("arms", {})
    return at_epoch_from_curves(curves, arms, epoch, label)


def _table_choice(main_epochs: list[int]) -> tuple[str, int | None]:
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
        st.warning(PAPER_WARNING, icon=":material/warning:")
    return rule, epoch


def tables_tab(experiment: dict[str, Any], arms: list[str]) -> Any:
    """Draw the tab; returns the summary shown (what the Exports tab saves)."""
    eid = experiment["id"]
    unfinished = st.toggle("Include unfinished runs (partial figures)", key="unfinished",
                           value=experiment["status"] != "done")
    if unfinished and experiment["status"] not in FINISHED:
        st.caption("Partial figures are recomputed in the background as runs record epochs: "
                   "they may trail the newest epoch by one refresh.")
    summary = fetch_summary(eid, unfinished)
    if summary is None:
        return None
    _primary_panel(summary)
    rule, epoch = _table_choice(_main_epochs(eid, arms))
    shown = rule
    if rule == AT_EPOCH and epoch is not None:
        shown = f"epoch {epoch}"
        summary = with_table(summary, shown, _at_epoch(eid, arms, epoch, shown))
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
