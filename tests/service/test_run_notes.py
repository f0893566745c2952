"""Tags and notes on runs (issue 16): PATCH /runs/{id} sets, normalises and clears them, checks
its body like the experiment PATCH, and changes no result (in-process API on SQLite and on
PostgreSQL, with an imported finished experiment: no worker needed); migration 0010."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api import crud
from store.db import Database, alembic_config, upgrade
from store.models import Run
from tests.reliability.inprocess import api_client, dialect_app, import_finished
from tests.service.backends import scratch_url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    """The API in this process on a fresh store of each dialect."""
    root = Path(tmp_path_factory.mktemp(f"run-notes-{request.param}"))
    with dialect_app(request.param, root, "run_notes") as application:
        yield application


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with api_client(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def experiment(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A finished two-arm experiment of three repeats (imported: no worker needed)."""
    return import_finished(client, tmp_path_factory.mktemp("npz"), runs=3, epochs=3)


def _patch(client: TestClient, run_id: int, body: dict[str, Any]) -> dict[str, Any]:
    response = client.patch(f"/runs/{run_id}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _results(app: FastAPI, client: TestClient, experiment_id: int) -> tuple[Any, ...]:
    """The results version, and the summary and selected epochs with their ETags."""
    db: Database = app.state.db
    with db.session() as session:
        version = crud.results_version(session, experiment_id=experiment_id)
        done = crud.results_version(session, experiment_id=experiment_id, done_only=True)
    summary = client.get(f"/experiments/{experiment_id}/summary")
    selected = client.get(f"/experiments/{experiment_id}/selected")
    return (version, done, summary.json(), summary.headers["etag"], selected.json(),
            selected.headers["etag"])


def test_a_new_run_has_no_tags_and_no_notes(experiment: dict[str, Any]) -> None:
    assert all((r["tags"], r["notes"]) == ([], None) for r in experiment["runs"])


def test_patch_sets_normalises_and_clears_tags_and_notes(
    client: TestClient, experiment: dict[str, Any]
) -> None:
    run_id = experiment["runs"][0]["id"]
    edited = _patch(client, run_id, {"tags": [" gpu-7 ", "odd", "gpu-7"], "notes": "loss spike"})
    assert (edited["tags"], edited["notes"]) == (["gpu-7", "odd"], "loss spike")
    assert edited["id"] == run_id and edited["status"] == "done"
    read = client.get(f"/runs/{run_id}").json()
    assert (read["tags"], read["notes"]) == (["gpu-7", "odd"], "loss spike")
    listed = client.get(f"/experiments/{experiment['id']}/runs").json()["items"]
    assert [(r["id"], r["tags"]) for r in listed if r["tags"]] == [(run_id, ["gpu-7", "odd"])]

    kept = _patch(client, run_id, {"notes": ""})  # '' clears the notes, the tags stay
    assert (kept["tags"], kept["notes"]) == (["gpu-7", "odd"], None)
    cleared = _patch(client, run_id, {"tags": []})
    assert (cleared["tags"], cleared["notes"]) == ([], None)
    assert _patch(client, run_id, {}) == cleared  # nothing given, nothing changes


@pytest.mark.parametrize(("body", "where"), [
    ({"tags": ["t"] * 33}, ["body", "tags"]),
    ({"tags": ["x" * 65]}, ["body", "tags", 0]),
    ({"tags": ["has space"]}, ["body", "tags", 0]),
    ({"tags": ["  "]}, ["body", "tags", 0]),
    ({"tags": "a,b"}, ["body", "tags"]),
    ({"notes": "x" * 20_001}, ["body", "notes"]),
    ({"name": "runs have none"}, ["body", "name"]),
    ({"excluded_reason": "sneaky"}, ["body", "excluded_reason"]),
])
def test_a_bad_body_is_a_422_that_names_the_field(
    client: TestClient, experiment: dict[str, Any], body: dict[str, Any], where: list[Any]
) -> None:
    run_id = experiment["runs"][1]["id"]
    response = client.patch(f"/runs/{run_id}", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == where
    assert client.get(f"/runs/{run_id}").json()["tags"] == []


def test_an_unknown_run_is_a_404(client: TestClient) -> None:
    response = client.patch("/runs/999999", json={"notes": "x"})
    assert response.status_code == 404 and response.json()["detail"] == "run 999999 not found"


def test_tags_and_notes_change_no_result(
    app: FastAPI, client: TestClient, experiment: dict[str, Any]
) -> None:
    before = _results(app, client, experiment["id"])
    for run in experiment["runs"]:
        _patch(client, run["id"], {"tags": ["checked"], "notes": f"run {run['id']} looked at"})
    assert _results(app, client, experiment["id"]) == before


def test_an_excluded_run_stays_excluded_when_annotated(
    app: FastAPI, client: TestClient, experiment: dict[str, Any]
) -> None:
    run_id = experiment["runs"][-1]["id"]
    excluded = client.post(f"/runs/{run_id}/exclude", json={"reason": "node broken", "by": "ana"})
    assert excluded.status_code == 200, excluded.text
    try:
        before = _results(app, client, experiment["id"])
        edited = _patch(client, run_id, {"tags": ["broken-node"], "notes": "see ticket 12"})
        keys = ("excluded_reason", "excluded_by", "excluded_at")
        assert {k: edited[k] for k in keys} == {k: excluded.json()[k] for k in keys}
        after = _results(app, client, experiment["id"])
        assert after == before
        assert [e["run_id"] for e in after[2]["excluded"]] == [run_id]
    finally:
        client.post(f"/runs/{run_id}/include")


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_migration_0010_gives_old_runs_empty_tags(dialect: str, tmp_path: Path) -> None:
    with scratch_url(dialect, tmp_path, "m9", migrate=False) as url:
        upgrade(url, "0009")
        db = Database(url)
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO experiment (name, spec, status, priority, created) "
                "VALUES ('old', '{}', 'done', 5, CURRENT_TIMESTAMP)"
            )
            connection.exec_driver_sql(
                "INSERT INTO run (experiment_id, arm, repeat, status, attempt, requeues) "
                "SELECT id, 'a', 0, 'done', 1, 0 FROM experiment"
            )
        upgrade(url, "0010")
        with db.session() as session:  # the columns of 0010 alone: later ones are not there yet
            old = session.execute(select(Run.tags, Run.notes, Run.arm)).one()
            assert tuple(old) == ([], None, "a")
        db.dispose()
        command.downgrade(alembic_config(url), "0009")
        upgrade(url)
