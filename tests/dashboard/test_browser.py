"""A real browser (Debian's chromium via Playwright) submits a tiny demo through the form.

The dashboard runs as `streamlit run dashboard/app.py` against the session's live API and
worker; screenshots go to test-artifacts/screenshots (printed by the test).
"""

from __future__ import annotations

import pytest
import yaml

from core.paper.presets import PRESETS
from tests.dashboard.conftest import SHOTS, browser_page, needs_chromium, sign_in
from tests.service.servers import wait_for

pytestmark = pytest.mark.slow
needs_chromium()


def tiny_demo_yaml() -> str:
    """The digits demo, shrunk to seconds: 200 images, 3 epochs, 2 repeats, short stages."""
    spec = PRESETS.get("demo-digits")()
    spec["name"] = "browser-demo"
    spec["dataset"]["limit_train"] = 200
    spec["training"]["epochs"] = 3
    spec["repeats"] = 2
    spec["arms"][1]["stages"] = [{"fraction": 0.1, "epochs": 1}, {"fraction": 0.3, "epochs": 1}]
    spec["arms"][2]["stages"] = [{"fraction": 0.5, "epochs": 1}]
    return yaml.safe_dump(spec, sort_keys=False)


def test_submit_demo_in_browser_shows_bands_and_tables(dashboard_url: str) -> None:
    print(f"screenshots: {SHOTS}")
    with browser_page(60_000) as page:
        try:
            sign_in(page, f"{dashboard_url}/submit")
            editor = page.get_by_label("Spec (YAML)")
            editor.wait_for()
            assert "demo-digits" in editor.input_value()  # the form starts from the demo
            editor.fill(tiny_demo_yaml())
            editor.press("Control+Enter")
            page.get_by_text("6 run(s) will be queued").wait_for()
            page.get_by_text("Estimated cost").wait_for()
            page.screenshot(path=SHOTS / "01-submit.png", full_page=True)

            page.get_by_role("button", name="Submit", exact=True).click()
            page.wait_for_url(lambda url: "experiment=" in url)
            page.get_by_role("heading", name="browser-demo").wait_for()
            experiment_url = page.url

            # Refresh until every run is in: bands need two runs at an epoch.
            def all_done() -> bool:
                if page.get_by_text("6/6 runs done").count():
                    return True
                page.get_by_role("button", name="Refresh").first.click()
                return False

            wait_for(all_done, 120, 2.0, "the demo's 6 runs to be done in the page")
            page.locator(".js-plotly-plot").first.wait_for()
            band = page.locator(".js-plotly-plot path.js-fill")
            wait_for(lambda: band.count() >= 3, 30, 0.5, "a band per arm in the chart")
            page.mouse.move(0, 0)  # Refresh's tooltip would hide the progress line
            page.screenshot(path=SHOTS / "02-curves.png", full_page=True)

            page.get_by_role("tab", name="Tables").click()
            page.locator("table").first.wait_for()
            # The tab leads with the primary comparison (arms against original); the tables
            # that follow have a row per arm, the baseline included.
            for arm in ("original", "smart-init", "warm-start"):
                assert page.locator("table tr", has_text=arm).count() >= 1, arm
            page.screenshot(path=SHOTS / "03-tables.png", full_page=True)

            sign_in(page, f"{dashboard_url}/?experiment={experiment_url.rsplit('=', 1)[1]}")
            page.get_by_role("heading", name="browser-demo").wait_for()  # the bookmark works
            page.get_by_role("tab", name="Exports").click()
            page.get_by_role("button", name="Figure .svg").wait_for()
            page.screenshot(path=SHOTS / "04-exports.png", full_page=True)
        except Exception:
            page.screenshot(path=SHOTS / "failure.png", full_page=True)
            raise
