"""API conventions (issue 17): one list shape with filters and sort, 201 + Location, idempotent
422s as {loc, msg, type}, typed OpenAPI, PATCH, archive/restore, single-run cancel, GET /sweeps
(idempotent submits: test_idempotency.py). In-process on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.result_schemas import CurvePoint, SelectedRun, Summary
from core.paper.authors_import import import_authors_file
from dashboard.specs import field_errors
from initlab.commands.import_ import upload_document
from store.db import Database, alembic_config, upgrade
from store.models import Experiment
from tests.core.authors_files import write_authors_file
from tests.reliability.inprocess import api_client, dialect_app
from tests.service.backends import scratch_url
from tests.service.servers import TOKEN, Api, Service, problem_lines, tiny_spec, wait_for

LIST_KEYS = {"items", "total", "limit", "offset"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FastAPI]:
    """The API in this process on a fresh store of each dialect, with the file broker."""
    root = Path(tmp_path_factory.mktemp(f"conventions-{request.param}"))
    with dialect_app(request.param, root, "conventions") as application:
        yield application


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with api_client(app) as test_client:
        yield test_client


def _submit(client: TestClient, name: str, **spec: Any) -> dict[str, Any]:
    response = client.post("/experiments", json={**tiny_spec(name), **spec})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _names(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/experiments", params=params)
    assert response.status_code == 200, response.text
    return [e["name"] for e in response.json()["items"]]


def _db(app: FastAPI) -> Database:
    db: Database = app.state.db
    return db


def test_every_list_route_has_one_shape(client: TestClient) -> None:
    created = _submit(client, f"shape-{uuid.uuid4().hex[:6]}", repeats=3)
    for seeds in ([1, 2], [3, 4]):
        sweep = {**tiny_spec("shape-sweep"), "sweep": {"seed": seeds}}
        assert client.post("/sweeps", json=sweep).status_code == 201
    for path in ("/experiments", f"/experiments/{created['id']}/runs", "/presets", "/sweeps"):
        body = client.get(path, params={"limit": 1, "offset": 1}).json()
        assert set(body) == LIST_KEYS and (body["limit"], body["offset"]) == (1, 1), path
        assert len(body["items"]) == 1 and body["total"] >= 2, path
    runs = client.get(f"/experiments/{created['id']}/runs").json()
    assert runs["total"] == 3 and [r["id"] for r in runs["items"]] == [
        r["id"] for r in created["runs"]
    ]
    (newest,) = client.get("/sweeps", params={"limit": 1}).json()["items"]
    assert newest["experiments"] == 2 and newest["runs_total"] == 2
    assert newest["status"] == "queued" and newest["runs_done"] == 0


def test_experiments_filter_and_sort(app: FastAPI, client: TestClient) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    names = [f"{tag}-Alpha-conv", f"{tag}-beta", f"{tag}-gamma_x"]
    ids = [_submit(client, name)["id"] for name in names]
    for experiment_id in ids[:2]:
        client.patch(f"/experiments/{experiment_id}", json={"tags": [tag, "other"]})
    assert _names(client, q=tag.upper(), sort="name") == names  # any case
    assert _names(client, q=f"{tag}-ALPHA") == [names[0]]
    assert _names(client, q="ha_c") == []  # '_' is a character, not a wildcard
    assert _names(client, q="a_x") == [names[2]]
    assert _names(client, tag=tag, sort="-name") == names[1::-1]
    assert _names(client, tag=tag[:-1]) == []  # a whole tag, not a substring
    assert _names(client, q=tag, sort="-id") == names[::-1]
    assert _names(client, q=tag, sort="id", status="queued") == names
    assert _names(client, q=tag, status="done") == []
    with _db(app).transaction() as session:  # spread the creation times out
        for i, experiment_id in enumerate(ids):
            row = session.get(Experiment, experiment_id)
            assert row is not None
            row.created = datetime(2020, 1, 1 + i, tzinfo=UTC)
    assert _names(client, q=tag) == names[::-1]  # newest first by default
    assert _names(client, q=tag, sort="created_at") == names
    after = _names(client, q=tag, created_after="2020-01-02T00:00:00Z")
    assert after == names[:0:-1]
    window = {"created_after": "2020-01-02T00:00:00", "created_before": "2020-01-03T00:00:00+00:00"}
    assert _names(client, q=tag, **window) == [names[1]]
    bad = client.get("/experiments", params={"sort": "size", "created_after": "yesterday"})
    assert bad.status_code == 422
    assert {tuple(p["loc"]) for p in bad.json()["detail"]} == {
        ("query", "sort"),
        ("query", "created_after"),
    }


def test_submit_answers_201_with_a_location(client: TestClient) -> None:
    created = client.post("/experiments", json=tiny_spec("located"))
    assert created.status_code == 201
    assert created.headers["location"] == f"/api/v1/experiments/{created.json()['id']}"
    assert client.get(created.headers["location"].removeprefix("/api/v1")).json()["name"] == (
        "located"
    )
    sweep = client.post("/sweeps", json={**tiny_spec("located-sweep"), "sweep": {"seed": [1, 2]}})
    assert sweep.status_code == 201
    assert sweep.headers["location"] == f"/api/v1/sweeps/{sweep.json()['sweep_id']}"
    assert len(client.get(sweep.headers["location"][7:]).json()["experiments"]) == 2
    dry = client.post("/experiments", json=tiny_spec("dry"), params={"dry_run": True})
    assert dry.status_code == 200 and "location" not in dry.headers


def test_every_422_is_a_list_of_loc_msg_type(client: TestClient) -> None:
    text = "name: bad\nrepeats: 0\ntraining:\n  lr: -1\n"
    spec = client.post("/experiments", content=text, headers={"Content-Type": "application/yaml"})
    assert spec.status_code == 422
    lines = problem_lines(spec)
    assert any(line.startswith("repeats: ") for line in lines), lines
    assert ["body", "training", "lr"] in [p["loc"] for p in spec.json()["detail"]]
    # The dashboard places each item on its YAML line from loc, without parsing the message.
    placed = {e.path: e.line for e in field_errors(text, spec.json()["detail"])}
    assert placed["repeats"] == 2 and placed["training.lr"] == 4
    checks = [
        client.get("/experiments", params={"limit": 0}),
        client.get("/experiments/1/curves", params={"phase": "all"}),
        client.patch("/experiments/1", json={"tags": ["has space"]}),
        client.post("/experiments/import", json={"spec": {}, "runs": []}),
        client.post("/sweeps", json=tiny_spec()),
    ]
    for response in checks:
        assert response.status_code == 422, response.text
        assert problem_lines(response)  # every item {loc, msg, type}
    assert checks[1].json()["detail"][0]["loc"] == ["query", "x"]
    assert checks[4].json()["detail"][0]["loc"] == ["body", "sweep"]


def test_patch_edits_name_tags_and_notes_and_checks_them(client: TestClient) -> None:
    created = _submit(client, "to-edit")
    path = f"/experiments/{created['id']}"
    edited = client.patch(path, json={"name": " renamed ", "tags": ["a", "b", "a"], "notes": "n"})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["name"], body["tags"], body["notes"]) == ("renamed", ["a", "b"], "n")
    assert body["spec"]["name"] == "to-edit"  # the spec stays as submitted
    kept = client.patch(path, json={"notes": ""}).json()
    assert (kept["name"], kept["tags"], kept["notes"]) == ("renamed", ["a", "b"], None)
    for bad, where in [
        ({"name": "x" * 201}, ["body", "name"]),
        ({"name": "  "}, ["body", "name"]),
        ({"tags": ["t"] * 33}, ["body", "tags"]),
        ({"tags": ["x" * 65]}, ["body", "tags", 0]),
        ({"notes": "x" * 20_001}, ["body", "notes"]),
        ({"owner": "me"}, ["body", "owner"]),
    ]:
        response = client.patch(path, json=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"][0]["loc"] == where
    assert client.patch("/experiments/999999", json={"notes": "x"}).status_code == 404


def test_archive_hides_and_restore_brings_back(client: TestClient) -> None:
    name = f"archived-{uuid.uuid4().hex[:8]}"
    created = _submit(client, name, repeats=2)
    path = f"/experiments/{created['id']}"
    refused = client.post(f"{path}/archive")
    assert refused.status_code == 409 and "cancel it" in refused.json()["detail"]
    client.post(f"{path}/cancel")
    archived = client.post(f"{path}/archive")
    assert archived.status_code == 200 and archived.json()["archived_at"]
    assert client.post(f"{path}/archive").json()["archived_at"] == archived.json()["archived_at"]
    assert _names(client, q=name) == []
    assert (
        _names(client, q=name, archived="true") == [name] == _names(client, q=name, archived="all")
    )
    assert client.get(path).json()["archived_at"] == archived.json()["archived_at"]
    assert client.get(f"{path}/runs").json()["total"] == 2  # nothing erased
    restored = client.post(f"{path}/restore")
    assert restored.status_code == 200 and restored.json()["archived_at"] is None
    assert _names(client, q=name) == [name] and _names(client, q=name, archived="true") == []
    assert client.post("/experiments/999999/archive").status_code == 404


def test_cancel_one_run(client: TestClient) -> None:
    created = _submit(client, "cancel-one", repeats=2)
    first, second = (run["id"] for run in created["runs"])
    cancelled = client.post(f"/runs/{first}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished"] is not None
    assert client.get(f"/runs/{second}").json()["status"] == "queued"
    again = client.post(f"/runs/{first}/cancel")
    assert again.status_code == 409 and "only queued or running runs" in again.json()["detail"]
    assert client.post("/runs/999999/cancel").status_code == 404
    assert client.post(f"/runs/{first}/retry").json()["status"] == "queued"  # and back


def test_results_match_their_typed_schemas(client: TestClient, tmp_path: Path) -> None:
    file = write_authors_file(tmp_path / "typed.npz", runs=2, epochs=3, seed=uuid.uuid4().int % 999)
    stored = client.post(
        "/experiments/import", json=upload_document(import_authors_file(file, "table1-32"))
    )
    assert stored.status_code == 201, stored.text
    base = f"/experiments/{stored.json()['id']}"
    summary = Summary.model_validate(client.get(f"{base}/summary").json())
    assert summary.tables and summary.arms
    curves = client.get(f"{base}/curves").json()
    points = [CurvePoint.model_validate(p) for arm in curves["arms"].values() for p in arm]
    assert points and all(p.low is not None for p in points)
    by_examples = client.get(f"{base}/curves", params={"x": "examples_total"}).json()
    assert all("examples_total" in p for arm in by_examples["arms"].values() for p in arm)
    selected = [SelectedRun.model_validate(r) for r in client.get(f"{base}/selected").json()]
    assert len(selected) == 4


def test_openapi_types_every_answer(client: TestClient) -> None:
    document = client.get("http://testserver/openapi.json")
    paths = document.json()["paths"]
    ref = paths["/api/v1/experiments/{experiment_id}/summary"]["get"]["responses"]["200"]
    assert ref["content"]["application/json"]["schema"]["$ref"].endswith("/Summary")
    schemas = document.json()["components"]["schemas"]
    assert schemas["Curves"]["properties"]["arms"]["additionalProperties"]["items"][
        "$ref"
    ].endswith("/CurvePoint")
    untyped = []
    for path, methods in paths.items():
        for method, operation in methods.items():
            for code, answer in operation["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if code == "204":  # No Content: nothing to type
                    continue
                if code.startswith("2") and (not schema or schema.get("additionalProperties")):
                    untyped.append((method, path, code))
    # A preset is an ExperimentSpec written out as JSON: the one free-form answer.
    assert untyped == [("get", "/api/v1/presets/{name}", "200")]
    for path in ("/api/v1/experiments", "/api/v1/sweeps"):
        headers = paths[path]["post"]["responses"]["201"]["headers"]
        assert "Location" in headers


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_migration_0008_gives_old_experiments_empty_tags(dialect: str, tmp_path: Path) -> None:
    from alembic import command

    with scratch_url(dialect, tmp_path, "m7", migrate=False) as url:
        upgrade(url, "0006")
        db = Database(url)
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO experiment (name, spec, status, priority, created) "
                "VALUES ('old', '{}', 'done', 5, CURRENT_TIMESTAMP)"
            )
        upgrade(url, "0008")
        with db.session() as session:  # the columns of 0008 alone: later ones are not there yet
            old = session.execute(
                select(Experiment.tags, Experiment.notes, Experiment.archived_at)
            ).one()
            assert tuple(old) == ([], None, None)
        db.dispose()
        command.downgrade(alembic_config(url), "0006")
        upgrade(url)


def test_created_after_accepts_times_with_and_without_a_zone(client: TestClient) -> None:
    soon = (datetime.now(UTC) + timedelta(days=1)).replace(tzinfo=None).isoformat()
    assert client.get("/experiments", params={"created_after": soon}).json()["total"] == 0


def test_cancelling_a_running_run_stops_it_and_spares_the_others(service: Service) -> None:
    api = Api(service.url)
    created = api.submit(tiny_spec("cancel-running", epochs=8, repeats=2))
    first, second = (run["id"] for run in created["runs"])
    wait_for(
        lambda: api.http.get(f"/runs/{first}").json()["last_epoch"],
        60,
        0.05,
        "the first run to train an epoch",
    )
    cancelled = api.http.post(f"/runs/{first}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    api.wait_status(created["id"], ("cancelled",))  # the other run finished meanwhile
    runs = {run["id"]: run for run in api.runs(created["id"])}
    assert runs[first]["status"] == "cancelled" and runs[first]["last_epoch"] < 8
    assert runs[second]["status"] == "done"


def test_the_cli_prints_422_items_and_pages_of_runs(service: Service, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from initlab.cli import app as cli

    env = {"INITLAB_API_TOKEN": TOKEN, "INITLAB_API_URL": None}
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nrepeats: 0\nmodel: small_cnn\n")
    refused = CliRunner().invoke(cli, ["submit", str(bad), "--api", service.url], env=env)
    assert refused.exit_code == 2
    assert "initlab: error: repeats: Input should be greater than or equal to 1" in refused.output
    created = Api(service.url).submit(tiny_spec("cli-status", repeats=2))
    shown = CliRunner().invoke(cli, ["status", str(created["id"]), "--api", service.url], env=env)
    assert shown.exit_code == 0, shown.output
    assert all(f"run {run['id']:>6}" in shown.output for run in created["runs"])


def test_a_list_filter_holding_a_nul_character_is_a_422_not_a_server_error(
    client: TestClient,
) -> None:
    # PostgreSQL refuses NUL in any text; schemathesis found the 500 with ?owner=…%00….
    for name in ("owner", "q", "tag"):
        response = client.get("/experiments", params={name: "ana\x00"})
        assert response.status_code == 422, (name, response.text)
        assert client.get("/experiments", params={name: "ana"}).status_code == 200
