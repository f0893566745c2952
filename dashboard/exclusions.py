"""The Runs tab's exclusions: leave a run out of the statistics with a reason, or include it.

An excluded run stays in the runs table, struck through, and is listed with its reason; the
API leaves it out of every table and statistic, and its repeat's pairs out of the comparisons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.client import get_client
from dashboard.ui import call

STRIKE = "\u0336"  # combining long stroke: a struck-through cell without styling support


def struck(text: str) -> str:
    """`text` drawn struck through in any font (the data grid takes no per-cell style)."""
    return "".join(ch + STRIKE for ch in text)


def strike_excluded(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs table with each excluded run's arm struck through (after filtering by arm)."""
    if frame.empty or "Excluded" not in frame:
        return frame
    out = frame.copy()
    gone = out["Excluded"] != ""
    out.loc[gone, "Arm"] = out.loc[gone, "Arm"].map(struck)
    return out


def run_label(run: Mapping[str, Any]) -> str:
    return f"#{run['id']} {run['arm']}, repeat {run['repeat']}"


def excluded_line(run: Mapping[str, Any]) -> str:
    """'~~#7 smart, repeat 2~~ — node broken · by ana · 2026-12-01 03:10 UTC' (Markdown)."""
    parts = [f"~~{run_label(run)}~~ — {run['excluded_reason']}"]
    if run.get("excluded_by"):
        parts.append(f"by {run['excluded_by']}")
    if run.get("excluded_at"):
        parts.append(str(run["excluded_at"])[:16].replace("T", " ") + " UTC")
    return " · ".join(parts)


def _changed() -> None:
    st.cache_data.clear()  # the summary and curves change with the runs that count
    st.rerun()


def _exclude_form(runs: list[dict[str, Any]]) -> None:
    counted = {r["id"]: r for r in runs if not r.get("excluded_reason")}
    if not counted:
        return
    cols = st.columns([2, 3, 1.5, 1], vertical_alignment="bottom")
    run_id = cols[0].selectbox("Run to exclude", list(counted), key="exclude_run",
                               format_func=lambda i: run_label(counted[i]))
    reason = cols[1].text_input("Reason (required)", key="exclude_reason",
                                placeholder="e.g. node gpu-7 has a broken GPU")
    by = cols[2].text_input("By (optional)", key="exclude_by")
    if cols[3].button("Exclude run", key="exclude"):
        if not reason.strip():
            st.error("Give a reason: it is recorded with the exclusion and listed in the tables "
                     "and exports.")
        elif call(f"exclude run {run_id}", get_client().exclude, run_id, reason.strip(),
                  by.strip() or None) is not None:
            _changed()


def exclusions_panel(runs: list[dict[str, Any]]) -> None:
    """The excluded runs with why (each with an Include button), then the exclude form."""
    st.markdown("**Exclusions** — runs left out of every table and statistic; an excluded "
                "run's repeat drops out of the paired comparisons.")
    for run in (r for r in runs if r.get("excluded_reason")):
        line, undo = st.columns([6, 1], vertical_alignment="center")
        line.markdown(excluded_line(run))
        if undo.button("Include", key=f"include_{run['id']}"):  # noqa: SIM102
            if call(f"include run {run['id']}", get_client().include, run["id"]) is not None:
                _changed()
    _exclude_form(runs)
