"""The dashboard's entry file: a router over the pages (`streamlit run dashboard/app.py`).

`/?experiment=ID` opens that experiment directly, and `/?sweep=ID` that sweep, so either page can
be bookmarked.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

from dashboard.client import get_client  # noqa: E402
from dashboard.login import require_sign_in  # noqa: E402
from dashboard.ui import sidebar_health  # noqa: E402

# The pages live in views/, not pages/: a pages/ folder beside the entry file switches Streamlit
# to its older file-based navigation, which runs page files directly and bypasses this router.
st.set_page_config(page_title="InitLab", page_icon=":material/science:", layout="wide")
# A bare URL with ?experiment= or ?sweep= opens that page; the experiment wins if both are given.
to_experiment = "experiment" in st.query_params
to_sweep = "sweep" in st.query_params and not to_experiment
pages = [
    st.Page("views/experiments.py", title="Experiments", icon=":material/list:",
            url_path="experiments", default=not (to_experiment or to_sweep)),
    st.Page("views/submit.py", title="Submit", icon=":material/send:", url_path="submit"),
    st.Page("views/experiment.py", title="Experiment", icon=":material/monitoring:",
            url_path="experiment", default=to_experiment),
    st.Page("views/sweep.py", title="Sweep", icon=":material/tune:", url_path="sweep",
            default=to_sweep),
    st.Page("views/live.py", title="Live", icon=":material/sensors:", url_path="live"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:",
            url_path="compare"),
    st.Page("views/search.py", title="Search", icon=":material/travel_explore:",
            url_path="search"),
]
# With auth on and no good session, the sign-in form is all there is: the pages stay registered
# (so the URL's page opens after signing in) but hidden, and none runs.
signed_in = require_sign_in()
page = st.navigation(pages, position="sidebar" if signed_in else "hidden")
if signed_in:
    sidebar_health(get_client())
    page.run()
