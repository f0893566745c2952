"""In a real browser (Debian's chromium via Playwright): excluding a run and including it again,
comparing two experiments, and importing a results.json or an authors' .npz on the Submit page.

The experiments are imported through the API (finished, no training), so each test takes a few
seconds; one browser serves the whole module. Screenshots go to test-artifacts/screenshots.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.paper.authors_import import import_authors_file
from initlab.commands.import_ import upload_document
from tests.core.authors_files import write_authors_file
from tests.dashboard.conftest import SHOTS, browser_page, needs_chromium, sign_in
from tests.service.servers import Api, wait_for

pytestmark = pytest.mark.slow
PLAYWRIGHT = needs_chromium()


def results(folder: Path, seed: int) -> dict[str, Any]:
    """A finished two-arm experiment of three repeats, as results.json holds it."""
    file = write_authors_file(folder / f"runs-{seed}.npz", runs=3, epochs=4, seed=seed)
    return import_authors_file(file, "table1-16")


@pytest.fixture(scope="module")
def imported(api: Api, tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    """Two imported experiments (different seeds), by id."""
    folder = tmp_path_factory.mktemp("cockpit")
    ids = []
    for seed in (11, 12):
        response = api.http.post("/experiments/import",
                                 json=upload_document(results(folder, seed)))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


@pytest.fixture(scope="module")
def page(dashboard_url: str) -> Iterator[Any]:
    """One chromium page for the module's tests; a failing test leaves a screenshot."""
    with browser_page(30_000) as tab:
        yield tab


@pytest.fixture(autouse=True)
def shot_on_failure(request: pytest.FixtureRequest, page: Any) -> Iterator[None]:
    yield
    if getattr(request.node, "call_failed", False):  # set by conftest's report hook
        page.screenshot(path=SHOTS / f"failure-{request.node.name}.png", full_page=True)


def test_a_run_excluded_with_a_reason_is_struck_through_and_left_out_of_the_tables(
    page: Any, dashboard_url: str, imported: list[int], api: Api
) -> None:
    eid = imported[0]
    sign_in(page, f"{dashboard_url}/?experiment={eid}")
    page.get_by_role("tab", name="Runs").click()
    reason = page.get_by_label("Reason (required)")
    reason.wait_for()
    reason.fill("node gpu-7 is broken")
    reason.press("Enter")
    page.get_by_role("button", name="Exclude run").click()
    struck = page.locator("del", has_text="repeat 0")
    struck.wait_for()
    assert "node gpu-7 is broken" in page.locator("p", has=struck).inner_text()
    excluded = [r for r in api.runs(eid) if r["excluded_reason"]]
    assert [r["excluded_reason"] for r in excluded] == ["node gpu-7 is broken"]
    page.screenshot(path=SHOTS / "05-runs-excluded.png", full_page=True)

    page.get_by_role("tab", name="Tables").click()
    page.get_by_text("excluded: 1 run(s) left out of every table and statistic").first.wait_for()
    page.get_by_role("tab", name="Exports").click()
    page.get_by_role("button", name="Excluded runs .csv (1)").wait_for()
    page.get_by_role("tab", name="Runs").click()
    page.get_by_role("button", name="Include").click()
    struck.wait_for(state="detached")
    assert not any(r["excluded_reason"] for r in api.runs(eid))


def test_two_experiments_share_one_chart_and_stand_side_by_side(
    page: Any, dashboard_url: str, imported: list[int]
) -> None:
    first, second = imported
    sign_in(page, f"{dashboard_url}/compare?experiments={first},{second}")
    page.get_by_role("heading", name="Primary comparisons").wait_for()
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for()
    for eid in imported:  # each experiment's arms are in the one chart, labelled by experiment
        assert chart.locator(".legendtext", has_text=f"#{eid} ").count() >= 2, eid
    tables = page.locator("[data-testid='stDataFrame']")
    tables.nth(1).wait_for()  # Streamlit may draw the tables after the chart
    assert tables.count() == 2  # a table per experiment
    assert "experiments=" in page.url
    page.screenshot(path=SHOTS / "06-compare.png", full_page=True)


def test_a_results_file_uploaded_on_submit_is_imported_once(
    page: Any, dashboard_url: str, tmp_path: Path
) -> None:
    good = tmp_path / "results.json"
    good.write_text(json.dumps(results(tmp_path, seed=13)))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    sign_in(page, f"{dashboard_url}/submit")
    page.get_by_text("Import finished runs (results.json)").click()
    upload = page.locator("input[type='file']")
    button = page.get_by_role("button", name="Import", exact=True)

    upload.set_input_files(broken)
    button.click()
    page.get_by_text("broken.json is not JSON").wait_for()

    upload.set_input_files(good)
    # The new file's rerun clears the old error; a click before that rerun ends can be lost.
    page.get_by_text("broken.json is not JSON").wait_for(state="detached")
    button.click()
    page.get_by_text("Imported as experiment #").wait_for()
    stored = page.get_by_role("link", name="Open experiment #").inner_text().split("#")[-1]
    page.screenshot(path=SHOTS / "07-import.png", full_page=True)
    button.click()  # the same file again: refused, naming the experiment that holds it
    page.get_by_text("already imported as experiment").wait_for()
    assert page.get_by_role("link", name=f"Open experiment #{stored}").count() == 1


def choose(page: Any, combobox: Any, name: str) -> None:
    """Pick `name` in a Streamlit selectbox: type to filter, click the one match. A rerun of the
    page (the upload above) can close the list before the click; then it is opened again."""

    def picked() -> bool:
        combobox.fill(name)
        option = page.get_by_role("option", name=name, exact=True)
        try:
            option.click(timeout=3000)
        except PLAYWRIGHT.TimeoutError:
            page.keyboard.press("Escape")
            return False
        return True

    wait_for(picked, 60, 0.2, f"the option {name} to be chosen")


def test_an_authors_npz_uploaded_on_submit_with_its_preset_is_imported_once(
    page: Any, dashboard_url: str, tmp_path: Path, api: Api
) -> None:
    good = write_authors_file(tmp_path / "authors-14.npz", runs=2, epochs=3, seed=14)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK this is no zip archive")
    sign_in(page, f"{dashboard_url}/submit")
    page.get_by_text("Import finished runs (results.json)").click()
    upload = page.locator("input[type='file']")
    button = page.get_by_role("button", name="Import", exact=True)
    preset = page.get_by_role("combobox", name="Preset the file's runs followed")

    upload.set_input_files(good)
    preset.wait_for()  # asked for an .npz only
    button.click()
    page.get_by_text("authors-14.npz: choose the preset its runs followed").wait_for()

    choose(page, preset, "table1-16")
    page.get_by_text("choose the preset its runs followed").wait_for(state="detached")
    button.click()
    page.get_by_text("Imported as experiment #").wait_for()
    stored = page.get_by_role("link", name="Open experiment #").inner_text().split("#")[-1]
    detail = api.experiment(int(stored))
    assert detail["provenance"]["file"] == "authors-14.npz"
    assert detail["provenance"]["preset"] == "table1-16" and len(api.runs(int(stored))) == 4
    page.screenshot(path=SHOTS / "08-import-npz.png", full_page=True)
    button.click()  # the same file again: refused, naming the experiment that holds it
    page.get_by_text("already imported as experiment").wait_for()
    assert page.get_by_role("link", name=f"Open experiment #{stored}").count() == 1

    upload.set_input_files(broken)
    page.get_by_text("already imported as experiment").wait_for(state="detached")
    button.click()
    page.get_by_text("broken.npz: not a readable .npz array file").wait_for()
    assert page.get_by_text("initlab-upload-").count() == 0  # named as uploaded
