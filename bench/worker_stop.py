"""Seconds from SIGTERM to exit of an idle worker on the embedded broker, for the code at a git
ref ("before") and the working tree ("after"), side by side.

Each round starts one worker per code, alternating which goes first, as `initlab worker --cpu`
starts it (the same Celery command line, SQLite and the embedded broker in a temporary folder),
waits for its "ready" line, lets it idle 3 s, sends SIGTERM and times the exit. What `initlab up`
pays on Ctrl-C, and every test service on stopping.

    python bench/worker_stop.py --before 2e46d78 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from store.config import Settings  # noqa: E402
from store.db import upgrade  # noqa: E402
from worker.launch import Slot, celery_argv  # noqa: E402


def code_at(ref: str, folder: Path) -> Path:
    """The files of `ref` under `folder` (git archive)."""
    folder.mkdir(parents=True)
    archive = folder / "code.tar"
    subprocess.run(["git", "archive", "-o", str(archive), ref], cwd=REPO, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "code", filter="data")
    return folder / "code"


def stop_seconds(code: Path, folder: Path) -> float:
    """Start a worker of `code` on a fresh embedded store, idle it, SIGTERM it: seconds to exit."""
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'initlab.db'}"
    upgrade(url)
    env = {**os.environ, "PYTHONPATH": str(code), "INITLAB_DATABASE_URL": url,
           "INITLAB_BROKER_URL": "filesystem://", "INITLAB_BROKER_DIR": str(folder / "broker"),
           "INITLAB_ARTIFACT_DIR": str(folder / "art"), "OMP_NUM_THREADS": "1"}
    log = folder / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(celery_argv(Slot("bench"), Settings()), cwd=code, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while b" ready." not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"the worker did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        time.sleep(3)
        began = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git ref of the code to compare with")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="worker-stop-") as name:
        root = Path(name)
        codes = {"before": code_at(args.before, root / "before"), "after": REPO}
        for i in range(args.rounds):
            order = ("before", "after") if i % 2 == 0 else ("after", "before")
            for which in order:
                times[which].append(stop_seconds(codes[which], root / f"{which}-{i}"))
                print(f"round {i + 1} {which}: {times[which][-1]:.2f} s", file=sys.stderr)
    for which, seconds in times.items():
        print(f"{which}: " + "  ".join(f"{s:.2f}" for s in seconds)
              + f" s, median {statistics.median(seconds):.2f} s")
    ratio = statistics.median(times["before"]) / statistics.median(times["after"])
    print(f"before / after: {ratio:.2f}x")


if __name__ == "__main__":
    main()
