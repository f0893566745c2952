"""Experiments: every experiment with status and progress; cancel, retry, open."""

from __future__ import annotations

import streamlit as st

from dashboard.client import get_client
from dashboard.tables import experiments_frame
from dashboard.ui import FINISHED, STATUS_ICONS, call

client = get_client()
PAGE_SIZE = 50
STATUSES = ["all", "queued", "running", "done", "failed", "cancelled"]


def _retry_failed(experiment_id: int) -> None:
    runs = call("list the runs", client.runs, experiment_id) or []
    retried = 0
    for run in runs:
        if run["status"] not in ("failed", "cancelled"):
            continue
        if call(f"retry run {run['id']}", client.retry, run["id"]) is not None:
            retried += 1
    st.session_state.flash = f"Experiment {experiment_id}: {retried} run(s) queued again"


st.title("Experiments")
if flash := st.session_state.pop("flash", None):
    st.success(flash)
# The status choices get a row of their own: in a column, "failed" and "cancelled" were cut off.
status = st.segmented_control("Status", STATUSES, default="all", key="status_filter")
top = st.columns([3, 2, 1, 1.4, 1], vertical_alignment="bottom")
name = top[0].text_input("Name contains", key="name_filter", max_chars=200)
tag = top[1].text_input("Tag", key="tag_filter", max_chars=64)
page_number = top[2].number_input("Page", min_value=1, value=1, step=1, key="list_page")
archived = top[3].toggle("Archived only", key="archived_filter",
                         help="archived experiments are hidden from the list, never erased")
top[4].button("Refresh", key="refresh")
filtered = bool(name or tag or archived or status not in (None, "all"))

page = call(
    "list experiments", client.experiments,
    status=None if status in (None, "all") else status,
    limit=PAGE_SIZE, offset=(int(page_number) - 1) * PAGE_SIZE,
    q=name.strip() or None, tag=tag.strip() or None, archived="true" if archived else "false",
)
if page is not None:
    items = page["items"]
    pages = max(1, -(-page["total"] // PAGE_SIZE))
    st.caption(f"{page['total']} experiment(s)" + (" match" if filtered else "")
               + f" · page {int(page_number)} of {pages}")
    if not items and filtered:
        st.info("Nothing matches these filters.")
    elif not items:
        st.info("No experiments yet: submit the demo (it runs in a few CPU minutes).")
        st.page_link("views/submit.py", label="Submit the demo", icon=":material/send:")
    else:
        st.dataframe(
            experiments_frame(items), hide_index=True, key="experiment_table",
            column_config={
                "Progress": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0,
                                                            format="percent"),
                "Created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                "Open": st.column_config.LinkColumn(display_text="open"),
            },
        )
        by_id = {e["id"]: e for e in items}
        row = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
        chosen = row[0].selectbox(
            "Experiment", list(by_id), key="chosen",
            format_func=lambda i: f"{STATUS_ICONS.get(by_id[i]['status'], '')} #{i} "
                                  f"{by_id[i]['name']} ({by_id[i]['status']})",
        )
        picked = by_id[chosen]
        progress = picked["progress"]
        if row[1].button("Open", key="open"):
            st.switch_page("views/experiment.py", query_params={"experiment": str(chosen)})
        if row[2].button("Cancel", key="cancel", disabled=picked["status"] in FINISHED):
            done = call(f"cancel experiment {chosen}", client.cancel, chosen)
            if done is not None:
                st.session_state.flash = (f"Experiment {chosen}: {done['cancelled_runs']} run(s)"
                                          " cancelled")
                st.rerun()
        retryable = progress["runs_failed"] + progress["runs_cancelled"]
        if row[3].button(f"Retry ({retryable})", key="retry", disabled=retryable == 0,
                         help="queue the failed and cancelled runs again; they resume from "
                              "their last checkpoint"):
            _retry_failed(chosen)
            st.rerun()
