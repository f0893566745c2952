"""The Runs tab's tags and notes: pick a run, edit what is written on it (curation only: no
table or statistic changes, so nothing cached is cleared)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.annotations import parse_tags
from dashboard.client import get_client
from dashboard.exclusions import run_label
from dashboard.ui import call


def run_notes_panel(runs: list[dict[str, Any]]) -> None:
    """A run picker and a form with its tags and notes, saved with PATCH /runs/{id}."""
    by_id = {r["id"]: r for r in runs}
    if not by_id:
        return
    with st.expander("A run's tags and notes"):
        run_id = st.selectbox("Run to annotate", list(by_id), key="notes_run",
                              format_func=lambda i: run_label(by_id[i]))
        run = by_id[run_id]
        # Keyed by run: picking another run shows that run's text, not the last one typed.
        with st.form(key=f"annotate_run_{run_id}"):
            tags = st.text_input("Run tags (comma or space separated)",
                                 ", ".join(run.get("tags") or []), key=f"run_tags_{run_id}")
            notes = st.text_area("Run notes", run.get("notes") or "", max_chars=20_000,
                                 key=f"run_notes_{run_id}")
            if st.form_submit_button("Save run tags and notes"):  # noqa: SIM102
                if call(f"save the tags and notes of run {run_id}", get_client().annotate_run,
                        run_id, tags=parse_tags(tags), notes=notes) is not None:
                    st.rerun()
