"""`python -m dashboard.serve [streamlit options]`: the dashboard's server, its imports warmed.

Streamlit runs the pages only when a browser opens a session, so the first visitor after a
start paid for importing pandas, plotly, scipy and matplotlib (seconds on a small CPU). This
starts `streamlit run dashboard/app.py` and meanwhile imports, in a thread, what the pages use
and builds one throw-away figure, so the first chart waits only for its data.
INITLAB_DASHBOARD_WARM=0 skips the warming (bench/first_chart.py compares the two).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
# What the pages import beyond Streamlit, heaviest first (scipy and matplotlib come with them).
WARM = (
    "dashboard.charts", "dashboard.curves_tab", "dashboard.tables_tab", "dashboard.runs_tab",
    "dashboard.export", "dashboard.sweeps", "dashboard.compare", "dashboard.specs",
    "dashboard.live", "dashboard.login", "dashboard.ui", "core.paper.presets",
)


def warm() -> None:
    """Import the pages' modules and draw one small Plotly figure (its validators load lazily)."""
    for name in WARM:
        importlib.import_module(name)
    import plotly.graph_objects as go

    go.Figure(go.Scatter(x=[0, 1], y=[0, 1], fill="toself")).to_json()


def main() -> None:
    """Start the warming thread, then Streamlit's own command line on the app."""
    import pandas  # noqa: F401  (here first: plotly peeks at a half-imported pandas otherwise)
    from streamlit.web import cli

    if os.environ.get("INITLAB_DASHBOARD_WARM", "1") != "0":
        threading.Thread(target=warm, name="warm-imports", daemon=True).start()

    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
