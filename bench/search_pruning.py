"""Compute saved by pruning a calibration search: the same trials with and without Optuna's
successive halving, in main-phase run-epochs and in worker wall time, on the CPU.

    python bench/search_pruning.py [--dataset digits|fashion_mnist] [--train-size N]
                                   [--epochs 6] [--repeats 3] [--trials 12] [--reduction 3]
                                   [--batch-repeats auto|R] [--seed 0] [--json]

Starts a real API and one CPU worker (SQLite + the embedded broker, OMP_NUM_THREADS=1), then
runs one search with pruning and the same search without, one after the other on that worker.
The random sampler draws a trial's schedule from (seed, trial number) alone, so both searches
try the same schedules (checked); with TPE the pruned search's history, and so its later
trials, would differ. A trial's value at an epoch needs every repeat there: with repeats trained
one after another (`--batch-repeats auto` is 1 on a CPU) the first rung is reached only when the
last repeat is, so `--batch-repeats R` (lockstep) shows what pruning saves when they are not.
Reported per search: the trial runs' main-phase run-epochs trained, their summed wall time
(each run's started..finished), and the ratios pruned / unpruned. The baseline (the same cost in
both: each search trains its own) and the confirmation are left out. Measured numbers:
bench/RESULTS.md, "Pruning a calibration search".
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.service.backends import sqlite_backend  # noqa: E402
from tests.service.servers import Api, Service, wait_for  # noqa: E402


def search_spec(args: argparse.Namespace, pruning: bool) -> dict[str, Any]:
    dataset: dict[str, Any] = {"name": args.dataset, "train_size": args.train_size}
    return {
        "name": f"pruning-bench {'on' if pruning else 'off'}",
        "model": "small_cnn",
        "dataset": dataset,
        "training": {"epochs": args.epochs, "batch_size": 64, "lr": 0.003},
        "arms": [
            {"name": "original", "method": "original"},
            {"name": "smart", "method": "smart_init", "stages": [{"fraction": 0.05, "epochs": 2}]},
        ],
        "repeats": args.repeats,
        "seed": args.seed,
        "execution": {"batch_repeats": args.batch_repeats},
        "search": {
            "arm": "smart",
            "space": {"stages.count": [1, 3], "stages.fraction": {"log": [0.01, 0.3]},
                      "stages.epochs": [1, 5]},
            "budget": {"trials": args.trials, "preprocess_share": 0.25},
            "sampler": "random",
            "parallel": 1,
            "pruning": {"enabled": pruning, "min_epochs": 1, "reduction": args.reduction},
            "confirm": {"top": 1, "repeats": 2, "stop_when_decided": False},
        },
    }


def trial_seconds(api: Api, search: dict[str, Any]) -> float:
    """Summed started..finished of every trial run that started."""
    from datetime import datetime

    total = 0.0
    ids = [t["experiment_id"] for t in search["trials"] if t["experiment_id"]]
    for experiment_id in ids:
        for run in api.runs(experiment_id):
            if run["started"] and run["finished"]:
                began = datetime.fromisoformat(run["started"])
                total += (datetime.fromisoformat(run["finished"]) - began).total_seconds()
    return total


def run_search(api: Api, spec: dict[str, Any]) -> dict[str, Any]:
    created = api.http.post("/searches", json=spec)
    assert created.status_code == 201, created.text
    search_id = created.json()["id"]
    began = time.monotonic()

    def confirming() -> dict[str, Any] | None:
        found = dict(api.http.get(f"/searches/{search_id}").json())
        assert found["status"] not in ("failed", "cancelled"), found
        return found if found["status"] in ("confirming", "done") else None

    found = wait_for(confirming, 6 * 3600, 2.0, f"search {search_id}'s trials")
    api.http.post(f"/searches/{search_id}/cancel")  # the confirmation is not measured
    found = dict(api.http.get(f"/searches/{search_id}").json())
    found["elapsed_s"] = time.monotonic() - began
    found["run_seconds"] = trial_seconds(api, found)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="digits", choices=["digits", "fashion_mnist"])
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--reduction", type=int, default=3)
    parser.add_argument(
        "--batch-repeats", default="auto", type=lambda v: v if v == "auto" else int(v)
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        backend = sqlite_backend(root)
        if args.dataset == "fashion_mnist":  # the Debian package's files, under the data root
            (root / "data" / "fashion-mnist").symlink_to("/usr/share/datasets/fashion-mnist")
        service = Service(backend, root)
        try:
            service.start_api(wait=False)
            service.start_worker(epoch_delay=0.0)
            api = Api(service.url)
            pruned = run_search(api, search_spec(args, pruning=True))
            full = run_search(api, search_spec(args, pruning=False))
        finally:
            service.stop()
    same = [t["params"] for t in pruned["trials"]] == [t["params"] for t in full["trials"]]
    report = {
        "same_trials": same,
        "pruned": {"run_epochs": pruned["main_run_epochs"], "counts": pruned["counts"],
                   "run_seconds": pruned["run_seconds"]},
        "unpruned": {"run_epochs": full["main_run_epochs"],
                     "run_seconds": full["run_seconds"]},
    }
    report["run_epoch_ratio"] = (pruned["main_run_epochs"]["trained"]
                                 / max(1, full["main_run_epochs"]["trained"]))
    report["wall_ratio"] = report["pruned"]["run_seconds"] / max(1e-9,
                                                                 report["unpruned"]["run_seconds"])
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"same trials in both searches: {same}")
    for name in ("pruned", "unpruned"):
        part = report[name]
        print(f"{name:>9}: {part['run_epochs']['trained']} main run-epochs trained of"
              f" {part['run_epochs']['full']}, {part['run_seconds']:.1f} s of trial runs")
    print(f"pruned / unpruned: {report['run_epoch_ratio']:.2f} of the run-epochs,"
          f" {report['wall_ratio']:.2f} of the run wall time")


if __name__ == "__main__":
    main()
