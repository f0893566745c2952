"""One owner per run, with real workers on both backends (issue 13).

Each backend's service has two workers whose clocks are off by +10 and -10 minutes (a
sitecustomize in tests/reliability/skewed_clock patches the time source): ownership is judged
on the database's clock, so no test here may see a run stolen or lost because of it.
- Two executions of one run overlap (a retry while the first is paused at a fault point):
  the final rows and checkpoint all come from the owning execution; the stale one stops.
- retry?fresh=true while the old execution still runs: the new one starts from the start
  and the metrics equal an uninterrupted run's.
- A run stuck in data loading is re-queued as stalled and finishes on the other worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from store.db import get_database
from store.models import Metric, Run
from tests.reliability.conftest import EPOCH_DELAY, fault_file
from tests.reliability.helpers import (
    FaultFile,
    assert_nothing_lost,
    fault_spec,
    wait_workers_live,
    worker_logs,
)
from tests.service.backends import postgres_backend, sqlite_backend
from tests.service.servers import Api, Service, wait_for

pytestmark = pytest.mark.slow  # live servers and workers
SKEWED = Path(__file__).resolve().parent / "skewed_clock"
SKEWS = ("600", "-600")  # seconds: one worker ahead, one behind
STALL_TIMEOUT = "20"  # seconds; generous: the test machine is shared and loaded


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """API + two clock-skewed workers on one backend, with a fault file and a short stall
    timeout."""
    root = tmp_path_factory.mktemp(f"fencing-{request.param}")
    logs = tmp_path_factory.mktemp(f"fencing-logs-{request.param}")
    if request.param == "sqlite":
        yield from _serve(sqlite_backend(root), root, logs)
    else:
        with postgres_backend(root, "fence-postgres") as backend:
            yield from _serve(backend, root, logs)


def _serve(backend: Any, root: Path, logs: Path) -> Iterator[Service]:
    service = Service(backend, logs)
    service.worker_env.update(
        INITLAB_FAULT_FILE=str(root / "fault.json"), INITLAB_STALL_TIMEOUT=STALL_TIMEOUT
    )
    service.start_api(wait=False)
    for skew in SKEWS:
        service.worker_env.update(
            INITLAB_TEST_CLOCK_SKEW=skew, PYTHONPATH=f"{SKEWED}:{service.env()['PYTHONPATH']}"
        )
        service.start_worker(EPOCH_DELAY, wait=False)
    service.wait_api()
    wait_workers_live(service)
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture
def faults(service: Service) -> Iterator[FaultFile]:
    armed = fault_file(service)
    yield armed
    armed.clear()


def _run(service: Service, run_id: int) -> Run:
    with get_database(service.backend.env["INITLAB_DATABASE_URL"]).session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def _assert_owner_wrote_everything(service: Service, run_id: int) -> int:
    """Every row and the one checkpoint left come from the run's final execution."""
    run = _run(service, run_id)
    with get_database(service.backend.env["INITLAB_DATABASE_URL"]).session() as session:
        fences = set(session.scalars(select(Metric.fence).where(Metric.run_id == run_id)))
    assert fences == {run.fence}, f"rows written by executions {fences}, owner {run.fence}"
    artifacts = Path(service.backend.env["INITLAB_ARTIFACT_DIR"]).resolve()
    assert run.checkpoint == f"{run_id}.{run.fence}.pt"  # a key, relative to the root
    assert sorted(p.name for p in artifacts.glob(f"{run_id}.*.pt")) == [f"{run_id}.{run.fence}.pt"]
    return run.fence


def _taken_over(api: Api, experiment_id: int, fence: int) -> dict[str, Any]:
    def running_again() -> dict[str, Any] | None:
        (run,) = api.runs(experiment_id)
        return run if run["status"] == "running" and run["fence"] > fence else None

    return dict(wait_for(running_again, 60, 0.05, "another execution to claim the run"))


def _stale_stopped(service: Service, run_id: int, fence: int) -> None:
    line = f"run {run_id} attempt {fence} stopped: it no longer owns the run"
    wait_for(lambda: line in worker_logs(service), 60, 0.2, f"the log line {line!r}")


def test_overlapping_executions_only_the_owner_writes(service: Service, faults: FaultFile) -> None:
    spec = fault_spec("overlap")
    api = Api(service.url)
    faults.set("before_record", 3, action="pause")  # stage epoch 2: its checkpoint is on disk
    created = api.submit(spec)
    faults.wait_paused()
    (run,) = api.runs(created["id"])
    assert api.http.post(f"/experiments/{created['id']}/cancel").status_code == 200
    assert api.http.post(f"/runs/{run['id']}/retry").status_code == 200
    _taken_over(api, created["id"], run["fence"])
    faults.resume()  # both executions now run at once; the stale one's rows are refused
    api.wait_status(created["id"])
    _stale_stopped(service, run["id"], run["fence"])
    assert_nothing_lost(api, created["id"], spec)
    assert _assert_owner_wrote_everything(service, run["id"]) == run["fence"] + 1


def test_fresh_retry_while_the_old_execution_runs(service: Service, faults: FaultFile) -> None:
    spec = fault_spec("fresh-retry")
    api = Api(service.url)
    faults.set("batch", 12, action="pause")  # main epoch 1 (the stage has 8 batches)
    created = api.submit(spec)
    faults.wait_paused()
    (run,) = api.runs(created["id"])
    assert api.http.post(f"/experiments/{created['id']}/cancel").status_code == 200
    retried = api.http.post(f"/runs/{run['id']}/retry", params={"fresh": "true"})
    assert retried.status_code == 200 and retried.json()["checkpoint"] is None
    new = _taken_over(api, created["id"], run["fence"])
    faults.resume()
    api.wait_status(created["id"])
    _stale_stopped(service, run["id"], run["fence"])
    started = f"run {run['id']} attempt {new['fence']} started on "
    lines = [line for line in worker_logs(service).splitlines() if started in line]
    assert lines and lines[0].endswith("from the start"), lines
    assert_nothing_lost(api, created["id"], spec)
    _assert_owner_wrote_everything(service, run["id"])


def test_skewed_clocks_neither_steal_nor_lose_runs(service: Service) -> None:
    spec = fault_spec("skew", repeats=4)
    api = Api(service.url)
    created = api.submit(spec)
    api.wait_status(created["id"], timeout=180)
    runs = api.runs(created["id"])
    assert [(r["fence"], r["requeues"]) for r in runs] == [(1, 0)] * 4, runs
    assert len({r["worker"] for r in runs}) == 2, "both skewed workers trained runs"
    assert_nothing_lost(api, created["id"], spec)


def test_a_run_stuck_in_data_loading_is_stalled_and_finishes_elsewhere(
    service: Service, faults: FaultFile
) -> None:
    spec = fault_spec("stalled")
    api = Api(service.url)
    faults.set("load", 1, action="pause")  # a data read that hangs while the heartbeat beats
    created = api.submit(spec)
    faults.wait_paused()
    (run,) = api.runs(created["id"])

    def noted() -> dict[str, Any] | None:
        (now,) = api.runs(created["id"])
        return now if now["note"] == "stalled, re-queued (attempt 2)" else None

    wait_for(noted, 60, 0.05, "the run to be re-queued as stalled")
    api.wait_status(created["id"])
    faults.resume()
    _stale_stopped(service, run["id"], run["fence"])
    (done,) = api.runs(created["id"])
    assert (done["stalls"], done["requeue_reason"], done["fence"]) == (1, "stalled", 2)
    assert done["worker"] != run["worker"]
    assert_nothing_lost(api, created["id"], spec)
    _assert_owner_wrote_everything(service, run["id"])
