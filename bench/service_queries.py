"""Read latency of GET /experiments/{id}/summary and /curves on a large stored experiment.

    python bench/service_queries.py [--requests 30] [--backends sqlite,postgres]

Stores one experiment of 120 finished runs (2 arms × 60 repeats) with 100 main-phase epochs ×
4 splits each (train, val, test, sample: 48,000 metric rows) through the ORM in one bulk insert,
then times each endpoint in-process (FastAPI's ASGI app through httpx, so the figures are the
handler, the queries and the JSON, without a network hop). The first request of each endpoint is
reported apart (cold) and left out of the percentiles. "cached" is the API as deployed (results
are reused while the experiment's results version is unchanged: every request still checks the
version); "uncached" recomputes every time, as when a live experiment records an epoch between
two requests. PostgreSQL comes from
INITLAB_TEST_POSTGRES (default 127.0.0.1:5432/test); a scratch database is made and dropped.
The target is p95 <= 200 ms.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from api.cache import ResultCache  # noqa: E402
from api.main import create_app  # noqa: E402
from core.spec import parse_spec  # noqa: E402
from store.config import Settings  # noqa: E402
from store.db import get_database  # noqa: E402
from store.models import Metric, Run, utcnow  # noqa: E402
from store.runs import create_experiment  # noqa: E402
from tests.service.backends import scratch_url  # noqa: E402

ARMS, REPEATS, EPOCHS = ("original", "smart"), 60, 100
SPLITS = ("train", "val", "test", "sample")
ENDPOINTS = {
    "summary": "/api/v1/experiments/{id}/summary",
    "curves": "/api/v1/experiments/{id}/curves?split=val&metric=loss&band=iqr",
    "curves accuracy p10p90": "/api/v1/experiments/{id}/curves?split=test&metric=accuracy"
    "&band=p10p90",
}


def bench_spec(repeats: int = REPEATS) -> dict[str, Any]:
    return {
        "name": f"bench-{2 * repeats}-runs",
        "model": "small_cnn",
        "dataset": {"name": "digits"},
        "training": {"epochs": EPOCHS},
        "arms": [
            {"name": "original", "method": "original", "preprocess_epochs": 1},
            {"name": "smart", "method": "smart_init", "stages": [{"fraction": 0.1, "epochs": 1}]},
        ],
        "repeats": repeats,
    }


def _rows(run_id: int, experiment_id: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    for epoch in range(1, EPOCHS + 1):
        for split in SPLITS:
            loss = 2.3 * math.exp(-epoch / 30) + rng.random() * 0.05
            yield {
                "run_id": run_id,
                "experiment_id": experiment_id,
                "phase": "main",
                "epoch": epoch,
                "split": split,
                "loss": loss,
                "accuracy": min(1.0, 1 - loss / 2.5),
                "lr": 0.001 * 0.925**epoch,
                "seconds": 1.0,
                "examples": 1000,
            }


def store_experiment(url: str, repeats: int = REPEATS) -> int:
    """One finished experiment of 2 × `repeats` runs (48,000 metric rows at the default 60);
    returns its id."""
    db = get_database(url)
    rng = random.Random(0)
    with db.transaction() as session:
        spec = parse_spec(bench_spec(repeats))
        experiment, _ = create_experiment(session, spec=spec, priority=5)
        for run in experiment.runs:
            run.status, run.finished, run.started = "done", utcnow(), utcnow()
            run.last_phase, run.last_epoch = "main", EPOCHS
            run.wall_seconds = {"preprocess": 1.0, "main": 100.0}
        experiment.status = "done"
        session.flush()
        runs: list[Run] = list(experiment.runs)
        rows = [row for run in runs for row in _rows(run.id, experiment.id, rng)]
        session.execute(insert(Metric), rows)
        return experiment.id


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1)]


def measure(client: TestClient, path: str, requests: int) -> dict[str, float]:
    """Milliseconds: the cold first request, then median/p95/max of the rest."""
    times = []
    for _ in range(requests + 1):
        began = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, response.text[:500]
    warm = times[1:]
    return {
        "cold": times[0],
        "median": statistics.median(warm),
        "p95": percentile(warm, 95),
        "max": max(warm),
    }


def run_backend(name: str, requests: int) -> list[tuple[str, str, dict[str, float]]]:
    results = []
    with tempfile.TemporaryDirectory() as tmp, scratch_url(name, Path(tmp), "bench") as url:
        began = time.perf_counter()
        experiment_id = store_experiment(url)
        print(f"{name}: stored 48,000 metric rows in {time.perf_counter() - began:.1f} s")
        settings = Settings(
            database_url=url, broker_url="filesystem://", broker_dir=Path(tmp) / "broker"
        )
        app = create_app(settings)
        with TestClient(app) as client:
            for mode, size in (("cached", 128), ("uncached", 0)):
                app.state.results_cache = ResultCache(size)
                for label, path in ENDPOINTS.items():
                    stats = measure(client, path.format(id=experiment_id), requests)
                    results.append((f"{name} {mode}", label, stats))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    rows = []
    for name in args.backends.split(","):
        rows += run_backend(name.strip(), args.requests)
    print(f"\n{'backend':<18} {'endpoint':<24} {'cold':>8} {'median':>8} {'p95':>8} {'max':>8}")
    for name, label, s in rows:
        print(
            f"{name:<18} {label:<24} {s['cold']:>7.1f}  {s['median']:>7.1f}  "
            f"{s['p95']:>7.1f}  {s['max']:>7.1f}   ms"
        )
    for mode in ("cached", "uncached"):
        worst = max(s["p95"] for name, _, s in rows if name.split()[-1] == mode)
        verdict = "OK" if worst <= 200 else "over"
        print(f"worst p95 {mode}: {worst:.1f} ms (target <= 200 ms): {verdict}")


if __name__ == "__main__":
    main()
