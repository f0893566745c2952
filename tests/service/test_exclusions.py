"""Excluding a run from the statistics with a reason, and including it again (in-process API
on a SQLite file, with an imported finished experiment: no worker needed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.reliability.inprocess import api_client, import_finished, make_app


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with api_client(make_app(Path(tmp_path_factory.mktemp("exclusions")))) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def experiment(client: TestClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A finished two-arm experiment of four repeats, stored through the import endpoint."""
    return import_finished(client, tmp_path_factory.mktemp("npz"), runs=4, epochs=4)


def _summary(client: TestClient, experiment_id: int) -> dict[str, Any]:
    return dict(client.get(f"/experiments/{experiment_id}/summary").json())


def _val_loss_row(summary: dict[str, Any], arm: str) -> dict[str, Any]:
    return next(r for r in summary["tables"]["val_loss"] if r["arm"] == arm and r["split"] == "val")


def test_an_excluded_run_leaves_the_tables_and_its_pair_until_included(
    client: TestClient, experiment: dict[str, Any]
) -> None:
    eid = experiment["id"]
    before = _summary(client, eid)
    baseline = before["baseline"]
    other = next(arm for arm in before["arms"] if arm != baseline)
    assert before["excluded"] == [] and before["excluded_pairs"] == 0
    assert before["primary"]["rows"][0]["repeats"] == [0, 1, 2, 3]
    run = next(r for r in experiment["runs"] if r["arm"] == other and r["repeat"] == 2)

    response = client.post(f"/runs/{run['id']}/exclude", json={"reason": "node gpu-7 is broken",
                                                               "by": "ana"})
    assert response.status_code == 200, response.text
    stored = response.json()
    assert stored["excluded_reason"] == "node gpu-7 is broken" and stored["excluded_by"] == "ana"
    assert stored["excluded_at"] is not None

    after = _summary(client, eid)
    assert _val_loss_row(after, other)["n"] == 3 and _val_loss_row(after, baseline)["n"] == 4
    assert _val_loss_row(after, other)["loss_mean"] != _val_loss_row(before, other)["loss_mean"]
    assert after["primary"]["rows"][0]["repeats"] == [0, 1, 3]  # the repeat's pair is dropped
    assert after["excluded_pairs"] == 1
    assert [(e["run_id"], e["reason"], e["by"]) for e in after["excluded"]] == [
        (run["id"], "node gpu-7 is broken", "ana")]
    assert after["notes"][0].startswith("excluded: 1 run(s) left out") and "gpu-7" in (
        after["notes"][0])
    selected = client.get(f"/experiments/{eid}/selected").json()
    assert (other, 2) not in {(s["arm"], s["repeat"]) for s in selected}

    assert client.post(f"/runs/{run['id']}/include").status_code == 200
    restored = _summary(client, eid)
    assert restored["tables"] == before["tables"] and restored["excluded"] == []
    assert client.get(f"/runs/{run['id']}").json()["excluded_reason"] is None


def test_excluding_the_baseline_run_drops_every_pair_of_its_repeat(
    client: TestClient, experiment: dict[str, Any]
) -> None:
    eid = experiment["id"]
    baseline = _summary(client, eid)["baseline"]
    run = next(r for r in experiment["runs"] if r["arm"] == baseline and r["repeat"] == 0)
    assert client.post(f"/runs/{run['id']}/exclude", json={"reason": "bad copy"}).status_code == 200
    try:
        summary = _summary(client, eid)
        arms = len(summary["arms"])
        assert summary["excluded_pairs"] == arms - 1
        assert all(0 not in row["repeats"] for row in summary["primary"]["rows"])
    finally:
        client.post(f"/runs/{run['id']}/include")


@pytest.mark.parametrize(("body", "status", "says"), [
    ({}, 422, "reason"),
    ({"reason": "   "}, 422, "at least 1 character"),
    ({"reason": "x", "who": "ana"}, 422, "who"),
])
def test_an_exclusion_needs_a_reason(
    client: TestClient, experiment: dict[str, Any], body: dict[str, Any], status: int, says: str
) -> None:
    response = client.post(f"/runs/{experiment['runs'][0]['id']}/exclude", json=body)
    assert response.status_code == status and says in response.text, response.text


def test_unknown_runs_and_a_needless_include_are_clear_errors(
    client: TestClient, experiment: dict[str, Any]
) -> None:
    missing = client.post("/runs/999999/exclude", json={"reason": "x"})
    assert missing.status_code == 404 and missing.json()["detail"] == "run 999999 not found"
    assert client.post("/runs/999999/include").status_code == 404
    run_id = experiment["runs"][0]["id"]
    needless = client.post(f"/runs/{run_id}/include")
    assert needless.status_code == 409
    assert needless.json()["detail"] == f"run {run_id} is not excluded; nothing to include"
