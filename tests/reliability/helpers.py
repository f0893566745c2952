"""Shared pieces of the reliability tests: specs, fault files, reference metrics, checks."""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import torch

from core.spec import parse_spec
from core.training.group import repeat_groups
from core.training.runner import RunHooks, run_group
from tests.service.servers import AUTH, Api, Service, wait_for
from worker.group_task import group_size

Key = tuple[str, int, str, int, str]  # (arm, repeat, phase, epoch, split)
# Where the random fault points come from; printed, so a failure can be replayed.
SEED = int(os.environ.get("INITLAB_FAULT_SEED") or time.time_ns() % 1_000_000)
RNG = random.Random(SEED)


def fault_spec(name: str, epochs: int = 3, repeats: int = 1) -> dict[str, Any]:
    """small_cnn on 200 digits: a pre-training stage (epochs 0..2) then `epochs` main epochs.

    Per run: 4 batches a stage epoch and 7 a main epoch; 7 evaluation passes in the stage
    (epoch 0 measures sample, val, test; later epochs val and test) and 2 per main epoch.
    """
    return {
        "name": name,
        "model": "small_cnn",
        "dataset": {"name": "digits", "limit_train": 200},
        "training": {"epochs": epochs, "batch_size": 32, "lr": 0.003},
        "arms": [
            {"name": "smart", "method": "smart_init", "stages": [{"fraction": 0.5, "epochs": 2}]}
        ],
        "repeats": repeats,
        "seed": 11,
    }


def key(row: dict[str, Any]) -> Key:
    return (row["arm"], row["repeat"], row["phase"], row["epoch"], row["split"])


@cache
def _reference(spec_json: str) -> dict[Key, tuple[float, float]]:
    spec = parse_spec(json.loads(spec_json))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers run (OMP_NUM_THREADS=1): bitwise the same sums
    try:  # in the worker's groups (execution.batch_repeats; one by one by default)
        results = [
            result
            for arm in spec.arms
            for repeats in repeat_groups(spec.repeats, group_size(spec))
            for result in run_group(spec, arm.name, [RunHooks(r) for r in repeats])
        ]
    finally:
        torch.set_num_threads(threads)
    return {
        (r.arm, r.repeat, m["phase"], m["epoch"], m["split"]): (m["loss"], m["accuracy"])
        for r in results
        for m in r.metrics
    }


def reference(spec: dict[str, Any]) -> dict[Key, tuple[float, float]]:
    """(loss, accuracy) per key of an uninterrupted in-process run of `spec` (name ignored),
    its repeats grouped as the worker groups them."""
    return _reference(json.dumps({**spec, "name": "reference"}, sort_keys=True))


def assert_nothing_lost(api: Api, experiment_id: int, spec: dict[str, Any]) -> int:
    """One row per (run, phase, epoch, split), with the uninterrupted run's exact figures."""
    rows = api.metrics(experiment_id)
    counts = Counter(key(row) for row in rows)
    repeated = [k for k, n in counts.items() if n > 1]
    assert not repeated, f"rows stored twice: {repeated}"
    expected = reference(spec)
    missing, extra = sorted(set(expected) - set(counts)), sorted(set(counts) - set(expected))
    assert not missing and not extra, f"missing {missing}, extra {extra}"
    for row in rows:
        assert (row["loss"], row["accuracy"]) == expected[key(row)], (key(row), SEED)
    return len(rows)


class FaultFile:
    """The INITLAB_FAULT_FILE of a service's workers (worker/faults.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.paused = path.with_name(path.name + ".paused")

    def set(self, point: str, at: int, action: str = "kill") -> None:
        self.paused.unlink(missing_ok=True)
        self.path.write_text(json.dumps({"point": point, "at": at, "action": action}))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
        self.paused.unlink(missing_ok=True)

    def wait_paused(self, timeout: float = 60) -> None:
        wait_for(self.paused.exists, timeout, 0.02, "the worker to pause at the fault point")

    def resume(self) -> None:
        self.paused.unlink(missing_ok=True)


def wait_dead_worker(service: Service, timeout: float = 60) -> None:
    """Wait until one of the service's workers has died; forget it."""

    def dead() -> Any:
        return next((w for w in service.workers if w.poll() is not None), None)

    victim = wait_for(dead, timeout, 0.05, "a worker to die at the fault point")
    service.workers.remove(victim)


def top_up_workers(service: Service, count: int, epoch_delay: float) -> None:
    """Start workers (without waiting for them) until `count` are alive."""
    for process in [w for w in service.workers if w.poll() is not None]:
        service.workers.remove(process)
    while len(service.workers) < count:
        service.start_worker(epoch_delay, wait=False)


def wait_workers_live(service: Service, timeout: float = 90) -> None:
    """Wait until every live worker process of the service reports in /health."""

    def live() -> bool:
        try:
            listed = [
                w["name"]
                for w in httpx.get(f"{service.url}/api/v1/health", headers=AUTH).json()["workers"]
            ]
        except (httpx.HTTPError, ValueError, KeyError):
            return False
        names = [service.names[w.pid] for w in service.workers if w.poll() is None]
        return all(any(n.startswith(f"{name}@") for n in listed) for name in names)

    wait_for(live, timeout, 0.2, "the workers to report live")


def worker_logs(service: Service) -> str:
    """Everything the service's worker processes have logged so far."""
    files = service.logs.glob(f"{service.backend.name}-w*.log")
    return "\n".join(path.read_text(errors="replace") for path in sorted(files))
