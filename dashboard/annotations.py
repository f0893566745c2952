"""An experiment's tags and notes, edited on its page, and archiving it (nothing is erased)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard.client import Client
from dashboard.ui import FINISHED, call


def parse_tags(text: str) -> list[str]:
    """Comma- or space-separated tags, in order, each once; the API checks their spelling."""
    return list(dict.fromkeys(t for t in text.replace(",", " ").split() if t))


def tags_and_notes(client: Client, experiment: dict[str, Any]) -> None:
    """Tags and notes as read, an editor for both, and Archive / Restore."""
    eid, tags, notes = experiment["id"], experiment.get("tags") or [], experiment.get("notes")
    if experiment.get("archived_at"):
        st.info("Archived: hidden from the Experiments list (nothing is erased).",
                icon=":material/inventory_2:")
    if tags:
        st.caption("Tags: " + " ".join(f"`{t}`" for t in tags))
    if notes:
        st.markdown(notes)
    with st.expander("Tags, notes and archive"):
        with st.form(key="annotate"):
            new_tags = st.text_input("Tags (comma or space separated)", ", ".join(tags))
            new_notes = st.text_area("Notes (Markdown)", notes or "", max_chars=20_000)
            if st.form_submit_button("Save"):
                saved = call("save tags and notes", client.annotate, eid,
                             tags=parse_tags(new_tags), notes=new_notes)
                if saved is not None:
                    st.rerun()
        if experiment.get("archived_at"):
            action = ("restore the experiment", client.restore) if st.button(
                "Restore", key="restore") else None
        else:
            action = ("archive the experiment", client.archive) if st.button(
                "Archive", key="archive", disabled=experiment["status"] not in FINISHED,
                help="hide it from the list, nothing erased (cancel it first if it runs)",
            ) else None
        if action is not None and call(action[0], action[1], eid) is not None:
            st.rerun()
