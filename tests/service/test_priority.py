"""Priority end to end on Redis: a high-priority experiment submitted while one worker is busy
with a low-priority one runs next, before the low one's queued runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.backends import postgres_backend
from tests.service.servers import Api, Service, tiny_spec, wait_for

pytestmark = pytest.mark.slow  # live servers and workers


@pytest.fixture(scope="module")
def busy_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """API + one solo worker (one run at a time) on a scratch database and Redis prefix of its
    own, so no other test's worker takes runs from its queue."""
    root = tmp_path_factory.mktemp("priority")
    logs = Path(os.environ.get("INITLAB_TEST_LOGS") or root / "logs")
    logs.mkdir(parents=True, exist_ok=True)
    with postgres_backend(root, "priority") as backend:
        service = Service(backend, logs)
        try:
            service.start_api(wait=False)
            # Each epoch waits 0.5 s: a run stays busy long enough to submit behind it.
            service.start_worker(epoch_delay=0.5)
            yield service
        finally:
            service.stop()


def test_high_priority_submitted_later_starts_before_queued_low_runs(
    busy_service: Service,
) -> None:
    api = Api(busy_service.url)
    low = api.submit(tiny_spec("low", epochs=2, repeats=3), priority=1)
    running = wait_for(
        lambda: [r for r in api.runs(low["id"]) if r["status"] == "running"],
        60, 0.05, "the worker to start a low-priority run",
    )
    queued = {r["id"] for r in api.runs(low["id"]) if r["status"] == "queued"}
    assert len(queued) == 2, api.runs(low["id"])
    high = api.submit(tiny_spec("high", epochs=1), priority=9)
    api.wait_status(high["id"], timeout=120)
    api.wait_status(low["id"], timeout=120)

    runs = [*api.runs(low["id"]), *api.runs(high["id"])]
    order = [r["id"] for r in sorted(runs, key=lambda r: r["started"])]
    high_run = api.runs(high["id"])[0]["id"]
    # The busy run first, then the high-priority one, then the low ones that were waiting.
    assert order[:2] == [running[0]["id"], high_run], runs
    assert set(order[2:]) == queued
