"""10,000 queued runs drained by 4 real workers on PostgreSQL + Redis (issue 13).

    python bench/drain.py [--runs 10000] [--workers 4] [--per-experiment 100]

Submits `--runs` tiny runs (1 epoch on 64 digits) through the API, starts `--workers` Celery
workers, and while they drain the queue ticks two more Recovery objects once a second, as two
workers' housekeepers would: the lease holder runs the lost-message check every tick (forced;
it compares the runs queued longer than INITLAB_QUEUE_GRACE, 60 s, with the broker), the other
only tries the lease. Prints, per tick, the queued runs left, the holder's time, the other's
time and how many runs the check republished (0 expected: no message is lost here),
and at the end that every run is done with exactly one row per split. PostgreSQL and Redis
come from INITLAB_TEST_POSTGRES / INITLAB_TEST_REDIS.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runqueue.app import make_celery  # noqa: E402
from store.config import Settings  # noqa: E402
from store.db import get_database  # noqa: E402
from store.models import Metric, Run  # noqa: E402
from tests.service.backends import postgres_backend  # noqa: E402
from tests.service.servers import TOKEN, Service, tiny_spec  # noqa: E402
from worker.recovery import Recovery  # noqa: E402


def submit(url: str, runs: int, per_experiment: int) -> None:
    with httpx.Client(base_url=f"{url}/api/v1", timeout=120,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        for k in range(runs // per_experiment):
            spec = tiny_spec(f"drain-{k}", epochs=1, repeats=per_experiment)
            spec["dataset"]["limit_train"] = 64
            response = http.post("/experiments", json=spec)
            assert response.status_code == 201, response.text


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--per-experiment", type=int, default=100)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="drain-"))
    with postgres_backend(root, "drain") as backend:
        service = Service(backend, root / "logs")
        (root / "logs").mkdir()
        env = backend.env
        settings = Settings(database_url=env["INITLAB_DATABASE_URL"],
                            broker_url=env["INITLAB_BROKER_URL"],
                            redis_key_prefix=env["INITLAB_REDIS_KEY_PREFIX"],
                            queue_name=env["INITLAB_QUEUE_NAME"])
        db = get_database(settings.database_url)
        try:
            service.start_api()
            began = time.perf_counter()
            submit(service.url, args.runs, args.per_experiment)
            print(f"{args.runs} runs submitted in {time.perf_counter() - began:.0f} s")
            app = make_celery(settings)
            holder, other = (Recovery(db, app, settings, name) for name in ("bench-a", "bench-b"))
            began = time.perf_counter()
            for _ in range(args.workers):
                service.start_worker(epoch_delay=0, wait=False)
            ticks: list[tuple[int, float, float, int]] = []
            while True:
                with db.session() as session:
                    counts = dict(session.execute(
                        select(Run.status, func.count()).group_by(Run.status)).all())
                queued = counts.get("queued", 0)
                first = holder.recover_once(force_message_check=True)
                second = other.recover_once(force_message_check=True)
                assert first.held and not second.held
                ticks.append((queued, first.seconds, second.seconds, len(first.republished)))
                if len(ticks) % 10 == 1:
                    print(f"t={time.perf_counter() - began:5.0f} s  queued {queued:6d}  "
                          f"holder {first.seconds * 1000:7.1f} ms (checked {first.checked})  "
                          f"other {second.seconds * 1000:5.1f} ms  republished "
                          f"{len(first.republished)}  done {counts.get('done', 0)}", flush=True)
                assert not counts.get("failed"), counts
                if counts.get("done", 0) == args.runs:
                    break
                time.sleep(1.0)
            elapsed = time.perf_counter() - began
            with db.session() as session:
                rows = session.scalar(select(func.count()).select_from(Metric))
            assert rows == args.runs * 3, f"{rows} metric rows for {args.runs} runs"
            others = [t[2] * 1000 for t in ticks]
            print(f"{args.workers} workers drained {args.runs} runs in {elapsed:.0f} s "
                  f"({args.runs / elapsed:.1f} runs/s); every run done with one row per split")
            print(f"other worker's tick: median {statistics.median(others):.1f} ms, "
                  f"max {max(others):.1f} ms over {len(ticks)} ticks; "
                  f"republished in all: {sum(t[3] for t in ticks)}")
        finally:
            service.stop()


if __name__ == "__main__":
    main()
