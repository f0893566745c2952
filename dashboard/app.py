"""The dashboard's entry file (`streamlit run dashboard/app.py`): Streamlit serving the pages'
router (dashboard/router.py) as an ASGI app, with the chart library preloaded with each page
(dashboard/preload.py). `streamlit run` finds `app` here and serves it with uvicorn.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard.preload import PreloadCharts  # noqa: E402

app = st.App("router.py", middleware=[Middleware(PreloadCharts)])
