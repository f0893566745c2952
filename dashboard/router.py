"""The pages' router: the script the dashboard runs for each browser session (dashboard/app.py).

Every page keeps its own path, so each link form opens its page with its query in a fresh
browser: `/experiments`, `/experiment?experiment=ID&tab=Tables`, `/sweep?sweep=ID`,
`/compare?experiments=3,5`, `/live?experiment=ID`, `/submit`. The bare `/` (the older bookmarks
`/?experiment=ID` and `/?sweep=ID` included) goes on to the page its query names.
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
experiments = st.Page("views/experiments.py", title="Experiments", icon=":material/list:",
                      url_path="experiments")
experiment = st.Page("views/experiment.py", title="Experiment", icon=":material/monitoring:",
                     url_path="experiment")
sweep = st.Page("views/sweep.py", title="Sweep", icon=":material/tune:", url_path="sweep")


def root() -> None:
    """`/`: on to the page the query names (?experiment= wins over ?sweep=), else the list.

    Streamlit serves the default page at `/` only, without a path of its own; a view made the
    default would lose its path, and its links would open on a "Page not found" pop-up.
    """
    query = st.query_params.to_dict()
    target = experiment if "experiment" in query else sweep if "sweep" in query else experiments
    st.switch_page(target, query_params=query)


pages = [
    st.Page(root, title="InitLab", url_path="root", default=True, visibility="hidden"),
    experiments,
    st.Page("views/submit.py", title="Submit", icon=":material/send:", url_path="submit"),
    experiment,
    sweep,
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
