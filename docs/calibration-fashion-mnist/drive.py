"""Run docs/calibration-fashion-mnist.yaml as a search on a real API and one CPU worker (SQLite
and the embedded broker, as bench/search_pruning.py starts them), writing the search's status to
STATE_DIR/search.json every 30 s; the API stays up for `initlab search status` and `initlab
report` until STATE_DIR/stop exists.

    OMP_NUM_THREADS=1 nice -n 5 python docs/calibration-fashion-mnist/drive.py STATE_DIR
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.service.backends import sqlite_backend  # noqa: E402
from tests.service.servers import Api, Service  # noqa: E402

# The tests' liveness is tuned for seconds-long runs on a quiet machine; a loaded one misses it.
LIVENESS = {
    "INITLAB_HEARTBEAT_INTERVAL": "10",
    "INITLAB_HEARTBEAT_TIMEOUT": "300",
    "INITLAB_SWEEP_INTERVAL": "3",
    "INITLAB_QUEUE_GRACE": "120",
    "INITLAB_STOP_POLL_INTERVAL": "1.5",
    "INITLAB_BROKER_POLL_INTERVAL": "0.2",
}


def main() -> None:
    root = Path(sys.argv[1])
    root.mkdir(parents=True, exist_ok=True)
    spec = yaml.safe_load((REPO / "docs" / "calibration-fashion-mnist.yaml").read_text())
    backend = sqlite_backend(root)
    backend.env.update(LIVENESS)
    (root / "data" / "fashion-mnist").symlink_to("/usr/share/datasets/fashion-mnist")
    service = Service(backend, root)
    (root / "url").write_text(service.url)
    try:
        service.start_api()
        service.start_worker(epoch_delay=0.0)
        api = Api(service.url)
        created = api.http.post("/searches", json=spec)
        assert created.status_code == 201, created.text
        search_id = created.json()["id"]
        print("search", search_id, "at", service.url, time.strftime("%H:%M:%S"), flush=True)
        began = time.monotonic()
        while True:
            found = api.http.get(f"/searches/{search_id}").json()
            (root / "search.json").write_text(json.dumps(found, indent=2))
            print(time.strftime("%H:%M:%S"), found["status"], found.get("counts"), flush=True)
            if found["status"] in ("done", "failed", "cancelled"):
                break
            time.sleep(30)
        print("elapsed", time.monotonic() - began, flush=True)
        while not (root / "stop").exists():
            time.sleep(5)
    finally:
        service.stop()


if __name__ == "__main__":
    main()
