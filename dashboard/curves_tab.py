"""The Experiment page's Curves tab: controls, the panel grid (or one panel) and the lr panel.

Every figure comes computed from the API (/curves, and /lines for the run overlay), so the
session holds a few hundred points per panel, never the experiment's metric rows.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.stats.curves import BANDS, X_AXES
from dashboard.charts import (
    BAND_LABELS,
    CENTRES,
    SPLIT_LABELS,
    X_LABELS,
    ArmSeries,
    CurveView,
    curve_series,
    plotly_figure,
)
from dashboard.client import client_for, get_client
from dashboard.curve_settings import (
    DEFAULTS,
    LAYOUTS,
    METRICS,
    SPLITS,
    STATE_PREFIX,
    from_query,
    lr_panel,
    panels,
    seed_state,
    to_query,
    view_of,
)
from dashboard.ui import ACTIVE, call

PANEL_HEIGHT = 320


# `active` only keys the cache: the Experiment page stops redrawing once the last run ended, so
# its first draw after that must fetch afresh, not show a body cached up to 3 s before.
@st.cache_data(ttl=3, show_spinner=False, max_entries=256)
def _curves(
    url: str, token: str | None, eid: int, active: bool | None, **params: str
) -> dict[str, Any]:
    return client_for(url, token).curves(eid, **params)


@st.cache_data(ttl=3, show_spinner=False, max_entries=256)
def _lines(
    url: str, token: str | None, eid: int, active: bool | None, **params: str
) -> dict[str, Any]:
    return client_for(url, token).lines(eid, **params)


def _active(eid: int) -> bool | None:
    """Whether the Experiment page saw the experiment's runs active (None elsewhere)."""
    return st.session_state.get(f"{ACTIVE}-{eid}")


def fetch_curves(eid: int, **params: str) -> dict[str, Any] | None:
    """GET /curves (cached 3 s per parameter set), or None after showing why it failed."""
    cfg = get_client().config
    return call(f"load the {params.get('split')} {params.get('metric')} curves", _curves,
                cfg.url, cfg.token, eid, _active(eid), **params)


def panel_series(eid: int, arms: list[str], view: CurveView) -> list[ArmSeries] | None:
    """One panel's series from the API (bands, centres and, with the overlay, each run)."""
    common = {"split": view.split, "metric": view.metric, "phase": view.phase, "x": view.x}
    curves = fetch_curves(eid, band=view.band, **common)
    if curves is None:
        return None
    lines = None
    if view.overlay:
        cfg = get_client().config
        lines = call("load the run lines", _lines, cfg.url, cfg.token, eid, _active(eid), **common)
    return curve_series(curves, view, arms, lines)


def _w(name: str) -> str:
    return STATE_PREFIX + name


def _controls(phases: list[str]) -> dict[str, Any]:
    """The widgets, seeded from the URL; returns the settings they hold."""
    seed_state(st.session_state, st.query_params.to_dict())
    s = st.session_state
    top = st.columns([1.3, 1.6, 1, 1, 1.4])
    top[0].segmented_control("Panels", LAYOUTS, key=_w("layout"), format_func=str.capitalize)
    top[1].selectbox("X axis", X_AXES, key=_w("x"), format_func=X_LABELS.get,
                     help="examples trained on counts every phase: the fair axis for warm starts")
    choices = _phase_choices(phases, s[_w("x")])
    if s.get(_w("phase")) not in choices:
        s[_w("phase")] = "main" if "main" in choices else choices[0]
    top[2].selectbox("Phase", choices, key=_w("phase"),
                     help="all: stages, preprocess and main in training order (not by epoch)")
    top[3].selectbox("Centre line", CENTRES, key=_w("centre"))
    top[4].selectbox("Band", BANDS, key=_w("band"), format_func=BAND_LABELS.get)
    row = st.columns([1, 1, 1.2, 1, 1], vertical_alignment="bottom")
    row[0].number_input("From x", min_value=0.0, step=1.0, key=_w("from"))
    row[1].slider("Smoothing (EMA weight)", 0.0, 0.95, step=0.05, key=_w("ema"),
                  help="0 is off; s = w·previous + (1 − w)·value")
    if s[_w("layout")] == "single":
        row[2].selectbox("Split", SPLITS, key=_w("split"), format_func=SPLIT_LABELS.get)
        row[3].selectbox("Metric", METRICS, key=_w("metric"))
    row[4].toggle("Individual runs", key=_w("runs"))
    row[4].toggle("Log scale", key=_w("log"))
    if s[_w("layout")] is None:  # a segmented control can be cleared; keep a layout
        s[_w("layout")] = "grid"
    settings = {key: s.get(_w(key), default) for key, default in DEFAULTS.items()}
    _write_url(settings)
    return settings


def _write_url(settings: dict[str, Any]) -> None:
    """Put the non-default settings in the URL (the experiment id stays)."""
    wanted = to_query(settings)
    for key in DEFAULTS:
        if key in st.query_params and key not in wanted:
            del st.query_params[key]
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def _draw(eid: int, arms: list[str], view: CurveView, key: str, height: int) -> None:
    series = panel_series(eid, arms, view) or []
    if not any(s.xs for s in series):
        st.caption(f"{view.panel_title}: no figures in the {view.phase} phase yet.")
        return
    title = view.panel_title + (f" · EMA {view.smoothing:g}" if view.smoothing else "")
    st.plotly_chart(plotly_figure(series, view, height=height, title=title), key=key)


def _phase_choices(phases: list[str], x: str) -> list[str]:
    return [*phases, "all"] if x != "epoch" else phases


def url_view(phases: list[str]) -> CurveView:
    """The single-panel view the URL names (the Curves tab keeps its settings there)."""
    settings = from_query(st.query_params.to_dict())
    if settings["phase"] not in _phase_choices(phases, settings["x"]):
        settings["phase"] = "main"
    return view_of(settings)


def curves_tab(eid: int, arms: list[str], phases: list[str]) -> None:
    """Draw the tab: its controls, the panel grid (or one panel) and the lr panel."""
    settings = _controls(phases)
    view = view_of(settings)
    if settings["layout"] == "single":
        _draw(eid, arms, view, "curve_chart", 460)
    else:
        grid = panels(view)
        for row in (grid[:3], grid[3:]):
            for col, panel in zip(st.columns(3), row, strict=True):
                with col:
                    _draw(eid, arms, panel, f"chart_{panel.metric}_{panel.split}", PANEL_HEIGHT)
    with st.expander("Learning rate", expanded=settings["layout"] == "grid"):
        _draw(eid, arms, lr_panel(view), "chart_lr", 260)
    st.caption(f"One colour per arm; {view.centre} and {view.band_label}. Hover lists every "
               "arm's value and n (the runs that reach that x); bands are drawn only where at "
               "least 2 runs do.")
