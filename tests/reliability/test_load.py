"""Load: 500 experiment submissions from 50 concurrent clients against the API on PostgreSQL
and Redis. All 500 are stored, with distinct ids, every run queued with its message in Redis;
then two workers train all 500 tiny runs (1 epoch on 64 digits) to the end. Prints the submit
latency percentiles and the workers' throughput."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from runqueue.inspect import pending_task_ids
from store.config import Settings
from store.db import get_database
from store.models import Experiment, Metric, Run
from tests.service.backends import postgres_backend
from tests.service.servers import TOKEN, Service, tiny_spec, wait_for

SUBMISSIONS, CLIENTS = 500, 50

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def load_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    root = tmp_path_factory.mktemp("load")
    with postgres_backend(root, "load") as backend:
        service = Service(backend, Path(tmp_path_factory.mktemp("load-logs")))
        try:
            service.start_api()
            yield service
        finally:
            service.stop()


def _spec(n: int) -> dict[str, Any]:
    spec = tiny_spec(f"load-{n}", epochs=1)
    spec["dataset"]["limit_train"] = 64
    return spec


def _submit_all(url: str) -> list[tuple[float, dict[str, Any]]]:
    """SUBMISSIONS posts from CLIENTS threads, each with its own connection; (seconds, body)."""
    per_client = SUBMISSIONS // CLIENTS

    def client(index: int) -> list[tuple[float, dict[str, Any]]]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        results = []
        with httpx.Client(base_url=f"{url}/api/v1", headers=headers, timeout=60) as http:
            for k in range(per_client):
                began = time.perf_counter()
                response = http.post("/experiments", json=_spec(index * per_client + k))
                elapsed = time.perf_counter() - began
                assert response.status_code == 201, response.text
                results.append((elapsed, response.json()))
        return results

    with ThreadPoolExecutor(CLIENTS) as pool:
        return [item for batch in pool.map(client, range(CLIENTS)) for item in batch]


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _assert_stored_and_queued(service: Service, results: list[tuple[float, Any]]) -> None:
    """Every submission stored once, with its own ids, its run queued with a Redis message."""
    ids = [body["id"] for _, body in results]
    run_ids = [run["id"] for _, body in results for run in body["runs"]]
    assert len(set(ids)) == SUBMISSIONS and len(set(run_ids)) == SUBMISSIONS
    env = service.backend.env
    with get_database(env["INITLAB_DATABASE_URL"]).session() as session:
        assert session.scalar(select(func.count()).select_from(Experiment)) == SUBMISSIONS
        statuses = session.execute(select(Run.status, Run.task_id)).all()
    assert len(statuses) == SUBMISSIONS and {s for s, _ in statuses} == {"queued"}
    settings = Settings(
        broker_url=env["INITLAB_BROKER_URL"],
        redis_key_prefix=env["INITLAB_REDIS_KEY_PREFIX"],
        queue_name=env["INITLAB_QUEUE_NAME"],
    )
    pending = pending_task_ids(settings)
    assert pending is not None and {t for _, t in statuses} <= pending, "every run has a message"


def _run_all(service: Service) -> float:
    """Start two workers; seconds until every run is done, each with one row per split."""
    db = get_database(service.backend.env["INITLAB_DATABASE_URL"])
    began = time.perf_counter()
    for _ in range(2):
        service.start_worker(epoch_delay=0, wait=False)

    def finished() -> bool:
        with db.session() as session:
            rows = session.execute(select(Run.status, func.count()).group_by(Run.status)).all()
        counts = dict(rows)
        assert not counts.get("failed"), counts
        return counts.get("done", 0) == SUBMISSIONS

    wait_for(finished, 300, 1.0, f"{SUBMISSIONS} runs to finish on two workers")
    elapsed = time.perf_counter() - began
    with db.session() as session:
        rows = session.scalar(select(func.count()).select_from(Metric))
        keys = session.scalar(
            select(func.count()).select_from(
                select(Metric.run_id, Metric.phase, Metric.epoch, Metric.split)
                .distinct()
                .subquery()
            )
        )
    assert rows == keys == SUBMISSIONS * 3, "one row per (run, main epoch 1, split)"
    return elapsed


def test_500_concurrent_submissions_are_stored_queued_and_run(load_service: Service) -> None:
    began = time.perf_counter()
    results = _submit_all(load_service.url)
    wall = time.perf_counter() - began
    latencies = [seconds * 1000 for seconds, _ in results]
    print(
        f"\n{SUBMISSIONS} submissions from {CLIENTS} clients in {wall:.1f} s: "
        f"p50 {statistics.median(latencies):.0f} ms, p95 {_percentile(latencies, 95):.0f} ms, "
        f"max {max(latencies):.0f} ms"
    )
    _assert_stored_and_queued(load_service, results)
    elapsed = _run_all(load_service)
    print(f"2 workers ran {SUBMISSIONS} runs in {elapsed:.0f} s ({SUBMISSIONS / elapsed:.1f}/s)")
