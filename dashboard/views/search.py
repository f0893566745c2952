"""Search (/search?search=ID): a calibration search's trials, Optuna's figures (history,
pruning, parallel coordinates, importances), the pruned share, and the confirmation's result
beside the search's own estimate."""

from __future__ import annotations

import streamlit as st

from dashboard.client import get_client
from dashboard.search_figures import confirmation_frame, figures, trials_frame
from dashboard.ui import call

client = get_client()
st.title("Calibration search")
page = call("list the searches", client.searches, limit=200)
items = (page or {}).get("items", [])
if not items:
    st.info("No searches yet: `initlab search SPEC` or POST /api/v1/searches starts one.")
    st.stop()
labels = {s["id"]: f"{s['id']} · {s['name']} ({s['status']})" for s in items}
wanted = st.query_params.get("search")
ids = list(labels)
index = ids.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in ids else 0
if wanted and index == 0 and wanted != str(ids[0]):
    st.warning(f"?search={wanted!r} names no search here; pick one below.")
chosen = st.selectbox("Search", ids, index=index, format_func=labels.__getitem__)
st.query_params["search"] = str(chosen)
search = call(f"read search {chosen}", client.search, int(chosen))
if search is None:
    st.stop()

counts, epochs = search["counts"], search["main_run_epochs"]
st.caption(f"Objective: {search['objective']} ({search['direction']}).")
if search.get("note"):
    st.warning(search["note"])
cols = st.columns(5)
cols[0].metric("Status", search["status"])
cols[1].metric("Trials run", counts["ran"])
share = counts["pruned_share"]
cols[2].metric("Pruned", "–" if share is None else f"{100 * share:.0f}%")
cols[3].metric("Over budget (never run)", counts["over_budget"])
cols[4].metric("Main run-epochs trained", f"{epochs['trained']} / {epochs['full']}")

st.subheader("Trials")
st.dataframe(trials_frame(search), hide_index=True, use_container_width=True)

st.subheader("Confirmation on a new seed")
frame = confirmation_frame(search)
if frame is None:
    st.info("The confirmation starts when the trials are spent.")
else:
    confirmation = search["confirmation"]
    st.caption(f"Experiment {confirmation['experiment_id']}, seed {confirmation['seed']},"
               f" {confirmation['status']}: the search's estimate beside the confirmed one;"
               " the gap is the winner's curse. Confirmed: at equal compute, the search's"
               " objective; decision: the primary endpoint's confidence sequence (each run read"
               " at its selected main epoch, not at equal compute).")
    st.dataframe(frame, hide_index=True, use_container_width=True)

for title, figure in figures(search).items():
    st.subheader(title)
    if isinstance(figure, str):
        st.info(figure)
    else:
        st.plotly_chart(figure, use_container_width=True)
