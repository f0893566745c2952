"""Runs end to end: HTTP submit -> real worker process -> store -> results over HTTP."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from core.models import build_model, param_count
from tests.service.servers import Api, Service, tiny_spec, wait_for

TWO_ARMS: list[dict[str, Any]] = [
    {"name": "original", "method": "original", "preprocess_epochs": 1},
    {"name": "smart", "method": "smart_init", "stages": [{"fraction": 0.2, "epochs": 1}]},
]


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["run_id"], row["phase"], row["epoch"], row["split"])


def test_submitted_experiment_runs_and_reports(service: Service) -> None:
    api = Api(service.url)
    created = api.submit(tiny_spec("e2e", epochs=2, repeats=2, arms=TWO_ARMS))
    assert len(created["runs"]) == 4
    experiment = api.wait_status(created["id"])
    assert experiment["progress"]["runs_done"] == 4 and experiment["progress"]["fraction"] == 1
    runs = api.runs(created["id"])
    assert {r["status"] for r in runs} == {"done"}
    for run in runs:
        assert run["init_fingerprint"] and run["wall_seconds"] and run["torch_version"]
        assert run["last_phase"] == "main" and run["last_epoch"] == 2
        assert run["python_version"] and run["device_name"].startswith("cpu")
    # Paired: every arm of a repeat starts from the same weights.
    by_repeat = {(r["repeat"], r["init_fingerprint"]) for r in runs}
    assert len(by_repeat) == 2
    rows = api.metrics(created["id"])
    ids = [row["id"] for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(n == 1 for n in Counter(map(_key, rows)).values())
    # main: 2 epochs x (train, val, test) per run; the smart arm adds stage-1 epochs 0..1,
    # the original its trained preprocessing epoch.
    assert sum(1 for row in rows if row["phase"] == "main") == 4 * 2 * 3
    assert {row["phase"] for row in rows} == {"main", "stage-1", "preprocess"}
    assert all(row["examples_total"] > 0 for row in rows if row["phase"] == "main")
    assert {r["precision"] for r in runs} == {"tf32"}
    assert {r["param_count"] for r in runs} == {param_count(build_model("small_cnn", 10))}
    curves = api.http.get(
        f"/experiments/{created['id']}/curves",
        params={"split": "val", "metric": "accuracy", "band": "minmax"},
    ).json()
    assert set(curves["arms"]) == {"original", "smart"}
    for points in curves["arms"].values():
        assert [p["epoch"] for p in points] == [1, 2]
        assert all(p["n"] == 2 and p["low"] <= p["median"] <= p["high"] for p in points)
    summary = api.http.get(f"/experiments/{created['id']}/summary").json()
    assert summary["baseline"] == "original" and summary["tables"]["val_loss"]
    assert summary["paired"]["val_loss"]
    listed = api.http.get("/experiments", params={"status": "done"}).json()
    assert created["id"] in [item["id"] for item in listed["items"]]


def test_killed_worker_run_resumes_and_matches(service: Service) -> None:
    """SIGKILL the worker after an epoch; another worker resumes from the checkpoint."""
    api = Api(service.url)
    spec = tiny_spec("resume", epochs=6)
    created = api.submit(spec)
    run_id = created["runs"][0]["id"]

    def trained_an_epoch() -> bool:
        run = api.http.get(f"/runs/{run_id}").json()
        assert run["status"] != "done", "the run finished before the kill; slow it down"
        return run["status"] == "running" and (run["last_epoch"] or 0) >= 1

    wait_for(trained_an_epoch, 60, 0.05, "the run to finish one epoch")
    victim = next(w for w in service.workers if w.poll() is None)
    service.kill_worker(victim)
    service.start_worker()
    api.wait_status(created["id"], timeout=120)
    run = api.http.get(f"/runs/{run_id}").json()
    assert run["requeues"] >= 1, "the sweep re-queued the run of the dead worker"
    rows = api.metrics(created["id"])
    assert Counter(map(_key, rows)).most_common(1)[0][1] == 1
    assert len(rows) == 6 * 3

    reference = api.submit(spec)
    api.wait_status(reference["id"])
    expected = {_key(r)[1:]: r for r in api.metrics(reference["id"])}
    assert set(expected) == {_key(r)[1:] for r in rows}
    for row in rows:
        want = expected[_key(row)[1:]]
        assert row["loss"] == pytest.approx(want["loss"], rel=1e-6, abs=1e-9), _key(row)
        assert row["accuracy"] == pytest.approx(want["accuracy"], abs=1e-9), _key(row)


def test_cancel_stops_running_and_queued_runs_then_retry(service: Service) -> None:
    api = Api(service.url)
    created = api.submit(tiny_spec("cancel", epochs=8, repeats=2, arms=TWO_ARMS[:1]))
    first = created["runs"][0]["id"]
    wait_for(
        lambda: api.http.get(f"/runs/{first}").json()["last_epoch"],
        60,
        0.05,
        "the first run to train an epoch",
    )
    response = api.http.post(f"/experiments/{created['id']}/cancel")
    assert response.status_code == 200 and response.json()["cancelled_runs"] == 2

    def stopped() -> bool:
        return not any(r["status"] == "running" for r in api.runs(created["id"]))

    wait_for(stopped, 15, 0.1, "the running run to stop")
    runs = {r["id"]: r for r in api.runs(created["id"])}
    assert {r["status"] for r in runs.values()} == {"cancelled"}
    assert api.experiment(created["id"])["status"] == "cancelled"
    never_started = created["runs"][1]["id"]
    assert runs[never_started]["started"] is None
    stopped_at = runs[first]["last_epoch"]
    assert stopped_at < 8

    retried = api.http.post(f"/runs/{first}/retry")
    assert retried.status_code == 200 and retried.json()["attempt"] == 2
    assert retried.json()["status"] == "queued"
    wait_for(
        lambda: api.http.get(f"/runs/{first}").json()["status"] == "done",
        90,
        0.2,
        "the retried run to finish",
    )
    rows = [r for r in api.metrics(created["id"]) if r["run_id"] == first]
    # One preprocessing epoch and 8 main epochs, each with train, val and test rows.
    assert len(rows) == (1 + 8) * 3 and Counter(map(_key, rows)).most_common(1)[0][1] == 1
    again = api.http.post(f"/runs/{first}/retry")
    assert again.status_code == 409 and "done" in again.json()["detail"]
    assert api.http.get(f"/runs/{never_started}").json()["started"] is None


def test_a_failing_run_is_failed_with_its_message(service: Service) -> None:
    api = Api(service.url)
    spec = tiny_spec("broken")
    # The folder exists (so the submit is accepted) but holds no CIFAR-10 batches.
    (Path(service.backend.env["INITLAB_DATA_ROOT"]) / "empty-cifar").mkdir(exist_ok=True)
    spec["dataset"] = {"name": "cifar10", "root": "empty-cifar"}
    created = api.submit(spec)
    api.wait_status(created["id"], ("failed",))
    run = api.runs(created["id"])[0]
    assert run["status"] == "failed" and "empty-cifar" in run["error"]
    # The worker goes on with the next experiment.
    ok = api.submit(tiny_spec("after-broken", epochs=1))
    api.wait_status(ok["id"])
