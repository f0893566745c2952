"""The dashboard's entry file: a router over the pages (`streamlit run dashboard/app.py`).

`/?experiment=ID` opens that experiment directly, so an experiment's page can be bookmarked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard.client import get_client  # noqa: E402
from dashboard.ui import sidebar_health  # noqa: E402

# The pages live in views/, not pages/: a pages/ folder beside the entry file switches Streamlit
# to its older file-based navigation, which runs page files directly and bypasses this router.
st.set_page_config(page_title="InitLab", page_icon=":material/science:", layout="wide")
deep_link = "experiment" in st.query_params
pages = [
    st.Page("views/experiments.py", title="Experiments", icon=":material/list:",
            url_path="experiments", default=not deep_link),
    st.Page("views/submit.py", title="Submit", icon=":material/send:", url_path="submit"),
    st.Page("views/experiment.py", title="Experiment", icon=":material/monitoring:",
            url_path="experiment", default=deep_link),
    st.Page("views/live.py", title="Live", icon=":material/sensors:", url_path="live"),
]
page = st.navigation(pages)
sidebar_health(get_client())
page.run()
