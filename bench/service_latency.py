"""Submit -> running latency of a run, on the embedded broker and on Redis.

    python bench/service_latency.py [--runs 10] [--backends sqlite,postgres]

Starts a real API and one real worker per backend, submits one tiny single-run experiment at a
time to an idle worker, and reports run.started - experiment.created (both stamped by the
servers) and the HTTP round trip of the submit. PostgreSQL and Redis come from
INITLAB_TEST_POSTGRES / INITLAB_TEST_REDIS (defaults: 127.0.0.1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from store.db import upgrade  # noqa: E402
from tests.service.conftest import POSTGRES, REDIS, _admin_connect  # noqa: E402
from tests.service.servers import Api, Backend, Service, tiny_spec  # noqa: E402

POLL = "0.1"  # the default INITLAB_BROKER_POLL_INTERVAL


def sqlite_backend(root: Path) -> Backend:
    url = f"sqlite:///{root / 'bench.db'}"
    upgrade(url)
    return Backend(
        "sqlite+embedded",
        {
            "INITLAB_DATABASE_URL": url,
            "INITLAB_BROKER_DIR": str(root / "broker"),
            "INITLAB_ARTIFACT_DIR": str(root / "art"),
            "INITLAB_QUEUE_NAME": "initlab",
            "INITLAB_BROKER_POLL_INTERVAL": POLL,
        },
    )


def postgres_backend(root: Path) -> tuple[Backend, str]:
    name = f"initlab_bench_{uuid.uuid4().hex[:8]}"
    _admin_connect().execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    url = POSTGRES.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return Backend(
        "postgres+redis",
        {
            "INITLAB_DATABASE_URL": url,
            "INITLAB_BROKER_URL": REDIS,
            "INITLAB_REDIS_KEY_PREFIX": f"{name}:",
            "INITLAB_QUEUE_NAME": name,
            "INITLAB_ARTIFACT_DIR": str(root / "art"),
            "INITLAB_BROKER_POLL_INTERVAL": POLL,
        },
    ), name


def drop_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def measure(service: Service, runs: int) -> tuple[list[float], list[float]]:
    """(submit->running seconds, POST round-trip seconds) for `runs` submissions."""
    api = Api(service.url)
    api.wait_status(api.submit(tiny_spec("warm-up", epochs=1))["id"])
    latencies, round_trips = [], []
    for i in range(runs):
        began = time.perf_counter()
        created = api.submit(tiny_spec(f"latency-{i}", epochs=1))
        round_trips.append(time.perf_counter() - began)
        experiment = api.wait_status(created["id"])
        run = api.runs(created["id"])[0]
        started = datetime.fromisoformat(run["started"])
        latencies.append((started - datetime.fromisoformat(experiment["created"])).total_seconds())
    return latencies, round_trips


def report(name: str, latencies: list[float], round_trips: list[float]) -> None:
    def ms(values: list[float], q: float) -> str:
        ordered = sorted(values)
        return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:7.1f}"

    print(
        f"{name:<16} submit->running ms: median {ms(latencies, 0.5)}  p90 {ms(latencies, 0.9)}"
        f"  max {1000 * max(latencies):7.1f}  mean {1000 * statistics.mean(latencies):7.1f}"
        f" | POST round trip ms: median {ms(round_trips, 0.5)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.backends.split(","):
            root = Path(tmp) / kind
            root.mkdir()
            backend, database = (
                (sqlite_backend(root), None) if kind == "sqlite" else postgres_backend(root)
            )
            service = Service(backend, root)
            try:
                service.start_api(wait=False)
                service.start_worker(epoch_delay=0)
                report(backend.name, *measure(service, args.runs))
            finally:
                service.stop()
                if database:
                    _admin_connect().execute(  # type: ignore[attr-defined]
                        f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
                    )
                    drop_redis_keys(f"{database}:")


if __name__ == "__main__":
    main()
