"""Every documented dashboard link form opens its page, with its query, in a fresh browser and
without Streamlit's "Page not found" pop-up (a page made default loses its own path)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pytest

from tests.dashboard.conftest import SHOTS, browser_page, sign_in, two_arm_spec
from tests.service.servers import Api

pytestmark = pytest.mark.slow
NOT_FOUND = "Page not found"


@pytest.fixture(scope="module")
def stored(api: Api, finished: dict[str, Any]) -> dict[str, Any]:
    """A finished experiment, a second one to compare it with, and a sweep."""
    second = api.submit(two_arm_spec("second", epochs=1, repeats=1))
    spec = {**two_arm_spec("url-sweep", epochs=1, repeats=1), "sweep": {"training.lr": [0.01]}}
    swept = api.http.post("/sweeps", json=spec)
    assert swept.status_code == 201, swept.text
    return {"experiment": finished["id"], "second": second["id"],
            "sweep": swept.json()["sweep_id"], "name": finished["name"]}


def forms(ids: dict[str, Any]) -> dict[str, tuple[str, str, Callable[[Any], None]]]:
    """Each link form: (URL, the address it shows once open, what its page shows)."""
    eid, heading = ids["experiment"], f"#{ids['experiment']} {ids['name']}"

    def shows(name: str, *texts: str) -> Callable[[Any], None]:
        def check(page: Any) -> None:
            page.get_by_role("heading", name=name).first.wait_for()
            for text in texts:
                page.get_by_text(text).first.wait_for()
        return check

    def tables(page: Any) -> None:
        shows(heading)(page)
        page.locator("table").first.wait_for()  # the Tables tab is the open one
        assert page.get_by_role("tab", name="Tables", selected=True).count() == 1

    experiment, sweep = f"/experiment?experiment={eid}", f"/sweep?sweep={ids['sweep']}"
    compare = f"/compare?experiments={eid},{ids['second']}"
    return {
        "list": ("/experiments", "/experiments", shows("Experiments")),
        "experiment": (f"{experiment}&tab=Tables", f"{experiment}&tab=Tables", tables),
        "sweep": (sweep, sweep, shows("Sweep: url-sweep")),
        "compare": (compare, compare, shows("Compare experiments", f"#{ids['second']} original")),
        "live": (f"/live?experiment={eid}", f"/live?experiment={eid}", shows("Live", heading)),
        # The bare root goes on to the page its query names, or to the list.
        "old bookmark": (f"/?experiment={eid}", experiment, shows(heading)),
        "old sweep bookmark": (f"/?sweep={ids['sweep']}", sweep, shows("Sweep: url-sweep")),
        "root": ("/", "/experiments", shows("Experiments")),
    }


@pytest.mark.parametrize("form", ["list", "experiment", "sweep", "compare", "live",
                                  "old bookmark", "old sweep bookmark", "root"])
def test_each_link_form_opens_its_page_without_a_pop_up(
    form: str, stored: dict[str, Any], dashboard_url: str
) -> None:
    path, address, opened = forms(stored)[form]
    with browser_page(60_000) as page:  # a fresh browser: nothing cached, no session
        sign_in(page, f"{dashboard_url}{path}")
        try:
            opened(page)
            page.wait_for_timeout(500)  # the pop-up comes with the page list, before the page
            assert page.get_by_text(NOT_FOUND).count() == 0
            assert unquote(page.url) == f"{dashboard_url}{address}"
        except Exception:
            page.screenshot(path=SHOTS / f"failure-url-{form.replace(' ', '-')}.png")
            raise


def test_chart_pages_ask_for_the_chart_library_with_the_page(
    stored: dict[str, Any], dashboard_url: str
) -> None:
    """dashboard/preload.py: a chart page preloads Streamlit's Plotly chunk (a file it serves)
    with the page, not after its first chart arrives; the list page does not; charts still draw."""
    import httpx

    html = httpx.get(f"{dashboard_url}/experiment", headers={"Accept-Encoding": "gzip"}).text
    chunk = html.split("./static/js/PlotlyChart.", 1)[1].split("'", 1)[0]
    served = httpx.get(f"{dashboard_url}/static/js/PlotlyChart.{chunk}")
    assert served.status_code == 200 and "javascript" in served.headers["content-type"]
    assert len(served.content) > 1_000_000  # the whole library, not an error page
    preload = "link[rel=modulepreload][href*=PlotlyChart]"
    with browser_page(60_000) as page:
        asked: list[str] = []
        page.on("request", lambda r: asked.append(r.url) if "/PlotlyChart." in r.url else None)
        sign_in(page, f"{dashboard_url}/experiments")
        page.get_by_role("heading", name="Experiments").first.wait_for()
        assert page.locator(preload).count() == 0 and not asked
        page.goto(f"{dashboard_url}/experiment?experiment={stored['experiment']}")
        page.locator(".js-plotly-plot .scatterlayer .trace").first.wait_for(state="attached")
        assert page.locator(preload).count() == 1 and asked
