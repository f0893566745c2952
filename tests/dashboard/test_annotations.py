"""Tags, notes, search and archive on the Experiments and Experiment pages, and a run's tags and
notes on the Runs tab (AppTest, live API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard.annotations import parse_tags
from initlab.commands.import_ import upload_document
from tests.dashboard.test_browser_cockpit import results
from tests.dashboard.test_pages import app_on
from tests.service.servers import Api, Service

pytestmark = pytest.mark.slow


def test_tags_are_split_on_commas_and_spaces_each_kept_once() -> None:
    assert parse_tags("lsuv, night-run  lsuv,,gpu-7") == ["lsuv", "night-run", "gpu-7"]


def _imported(api: Api, folder: Path, seed: int) -> int:
    """A finished two-arm experiment of three repeats stored through the import endpoint."""
    stored = api.http.post("/experiments/import", json=upload_document(results(folder, seed)))
    assert stored.status_code == 201, stored.text
    return int(stored.json()["id"])


def _listed(at: object) -> list[int]:
    return [int(i) for i in at.dataframe[0].value["ID"]] if at.dataframe else []  # type: ignore[attr-defined]


def test_tag_notes_find_and_archive_an_experiment(
    dashboard_env: Service, api: Api, tmp_path: Path
) -> None:
    eid = _imported(api, tmp_path, seed=21)

    at = app_on(experiment=str(eid))
    tags = next(t for t in at.text_input if t.label.startswith("Tags"))
    tags.input("night-run, lsuv night-run")
    next(t for t in at.text_area if t.label.startswith("Notes")).input("node **gpu-7** was hot")
    next(b for b in at.button if b.label == "Save").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = api.http.get(f"/experiments/{eid}").json()
    assert (saved["tags"], saved["notes"]) == (["night-run", "lsuv"], "node **gpu-7** was hot")
    assert any("`night-run`" in c.value for c in at.caption)

    at = app_on("experiments")
    at.text_input(key="tag_filter").input("night-run").run()
    assert _listed(at) == [eid]
    at.text_input(key="tag_filter").input("").run()
    at.text_input(key="name_filter").input("no such name anywhere").run()
    assert _listed(at) == [] and any("Nothing matches" in i.value for i in at.info)

    at = app_on(experiment=str(eid))
    next(b for b in at.button if b.label == "Archive").click().run()
    assert api.http.get(f"/experiments/{eid}").json()["archived_at"] is not None
    listing = app_on("experiments")
    assert eid not in _listed(listing)  # hidden by default, not erased
    listing.toggle(key="archived_filter").set_value(True).run()
    assert eid in _listed(listing)
    at = app_on(experiment=str(eid))
    next(b for b in at.button if b.label == "Restore").click().run()
    assert api.http.get(f"/experiments/{eid}").json()["archived_at"] is None


def _runs_table(at: object) -> Any:
    return next(d.value for d in at.dataframe if "Notes" in d.value)  # type: ignore[attr-defined]


def test_a_runs_tags_and_note_are_edited_on_the_runs_tab_and_shown_in_its_table(
    dashboard_env: Service, api: Api, tmp_path: Path
) -> None:
    eid = _imported(api, tmp_path, seed=22)
    run_id = api.http.get(f"/experiments/{eid}/runs").json()["items"][1]["id"]
    summary = api.http.get(f"/experiments/{eid}/summary").json()

    at = app_on(experiment=str(eid), tab="Runs")
    at.selectbox(key="notes_run").set_value(run_id).run()
    at.text_input(key=f"run_tags_{run_id}").input("gpu-7, odd gpu-7")
    at.text_area(key=f"run_notes_{run_id}").input("loss spike at epoch 3")
    next(b for b in at.button if b.label == "Save run tags and notes").click().run()
    assert not at.exception, [e.value for e in at.exception]
    saved = api.http.get(f"/runs/{run_id}").json()
    assert (saved["tags"], saved["notes"]) == (["gpu-7", "odd"], "loss spike at epoch 3")
    assert api.http.get(f"/experiments/{eid}/summary").json() == summary  # curation only

    table = _runs_table(at)
    row = table[table["Run"] == run_id].iloc[0]
    assert (row["Tags"], row["Notes"]) == ("gpu-7 odd", "loss spike at epoch 3")
    assert (table["Notes"] != "").sum() == 1
    at.text_input(key="runs_filter").input("spike at epoch").run()
    assert _runs_table(at)["Run"].tolist() == [run_id]
