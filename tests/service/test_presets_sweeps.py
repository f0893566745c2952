"""/presets and /sweeps, in-process (FastAPI's TestClient on a SQLite file, no worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.paper.presets import PRESETS, get_preset
from core.spec import parse_spec, spec_to_json
from core.training.stopping import DECIDED
from store.models import Experiment, Run
from store.runs import sync_status
from tests.reliability.inprocess import AUTH, make_app
from tests.service.servers import problem_lines, tiny_spec


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = make_app(Path(tmp_path_factory.mktemp("presets-sweeps")))
    with TestClient(app, headers=AUTH, base_url="http://testserver/api/v1") as test_client:
        yield test_client


def test_presets_list_names_and_summaries(client: TestClient) -> None:
    listed = client.get("/presets").json()["items"]
    assert [p["name"] for p in listed] == PRESETS.names()
    assert all(p["summary"] and "\n" not in p["summary"] for p in listed)


@pytest.mark.parametrize("name", PRESETS.names())
def test_each_preset_is_its_spec_and_submittable(client: TestClient, name: str) -> None:
    body = client.get(f"/presets/{name}").json()
    assert parse_spec(body) == get_preset(name) and body == spec_to_json(get_preset(name))
    dry = client.post("/experiments", json=body, params={"dry_run": True})
    assert dry.status_code in (200, 422), dry.text  # 422 only for data outside this data root


def test_unknown_preset_is_404_listing_the_choices(client: TestClient) -> None:
    response = client.get("/presets/no-such-preset")
    assert response.status_code == 404
    assert "valid choices: " in response.json()["detail"] and "demo-digits" in response.text


def test_a_sweep_is_a_group_of_experiments_with_their_values(client: TestClient) -> None:
    spec = {**tiny_spec("grid"), "sweep": {"training.lr": [0.01, 0.001], "seed": [1, 2]}}
    created = client.post("/sweeps", json=spec)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["sweep_id"] and len(body["experiments"]) == 4 and len(body["runs"]) == 4
    swept = [e["swept"] for e in body["experiments"]]
    assert swept == [{"training.lr": lr, "seed": seed} for lr in (0.01, 0.001) for seed in (1, 2)]
    group = client.get(f"/sweeps/{body['sweep_id']}").json()
    assert group["id"] == body["sweep_id"] and group["status"] == "queued"
    assert group["fraction"] == 0
    assert [e["id"] for e in group["experiments"]] == [e["id"] for e in body["experiments"]]
    assert [e["swept"] for e in group["experiments"]] == swept
    assert all(e["progress"]["runs_queued"] == 1 for e in group["experiments"])
    assert all(e["sweep_id"] == body["sweep_id"] for e in group["experiments"])


def test_sweep_errors_are_clear(client: TestClient) -> None:
    single = client.post("/sweeps", json=tiny_spec("no-sweep"))
    assert single.status_code == 422 and problem_lines(single)[0].startswith("sweep: missing")
    typo = client.post("/sweeps", json={**tiny_spec(), "sweep": {"training.lrr": [1e-3]}})
    assert typo.status_code == 422
    assert "no field 'lrr'; valid choices: " in problem_lines(typo)[0]
    assert client.get("/sweeps/no-such-sweep").status_code == 404


def test_a_sweep_whose_experiments_were_decided_early_is_done(tmp_path: Path) -> None:
    """Runs cancelled because the primary comparison was decided end a sweep as done, as they
    end its experiments (store.runs.derive_status), in the list and in the sweep itself."""
    app = make_app(tmp_path)
    with TestClient(app, headers=AUTH, base_url="http://testserver/api/v1") as client:
        spec = {**tiny_spec("decided"), "repeats": 2, "sweep": {"seed": [1, 2]}}
        created = client.post("/sweeps", json=spec).json()
        with app.state.db.transaction() as session:
            for experiment in created["experiments"]:
                first, *rest = session.scalars(
                    select(Run).where(Run.experiment_id == experiment["id"]).order_by(Run.id)
                )
                first.status = "done"
                for run in rest:
                    run.status, run.error = "cancelled", f"{DECIDED}: the primary is decided"
                sync_status(session, session.get(Experiment, experiment["id"]))
        sweep = client.get(f"/sweeps/{created['sweep_id']}").json()
        assert [e["status"] for e in sweep["experiments"]] == ["done", "done"]
        assert sweep["status"] == "done"
        (listed,) = client.get("/sweeps").json()["items"]
        assert (listed["status"], listed["runs_done"], listed["runs_total"]) == ("done", 2, 4)
