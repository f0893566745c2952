"""Ctrl-C on `initlab up` while runs train: one line per run handed back, no traceback, and
every run back in the queue with the epochs it recorded."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.service.servers import FAST, REPO, free_port, tiny_spec, wait_for

pytestmark = pytest.mark.slow  # live servers and a worker
ARMS = [{"name": "original", "method": "original"}, {"name": "smart", "method": "smart_init"}]


def running_runs(api: str, experiment_id: int) -> set[int]:
    """Runs that train and have recorded an epoch (so handing them back keeps something)."""
    page = httpx.get(f"{api}/api/v1/experiments/{experiment_id}/runs", timeout=10).json()
    items = page["items"]
    return {r["id"] for r in items if r["status"] == "running" and r["last_epoch"] is not None}


def start_up(tmp_path: Path, api_port: int) -> subprocess.Popen[bytes]:
    """`initlab up --cpu` on free ports, its store under tmp_path, epochs slowed down."""
    env = {
        **os.environ, **FAST, "PYTHONPATH": str(REPO), "INITLAB_STATE_DIR": str(tmp_path / "var"),
        "INITLAB_EPOCH_DELAY": "2", "INITLAB_STOP_GRACE": "60",
    }
    for own in ("INITLAB_API_TOKEN", "INITLAB_DATABASE_URL", "INITLAB_BROKER_URL",
                "INITLAB_BROKER_DIR", "INITLAB_ARTIFACT_DIR", "INITLAB_AUTH"):
        env.pop(own, None)
    # Its own session, so SIGINT reaches `initlab up` only, as Ctrl-C in its terminal would.
    return subprocess.Popen(
        [sys.executable, "-m", "initlab.cli", "up", "--cpu", "--api-port", str(api_port),
         "--dashboard-port", str(free_port())],
        cwd=tmp_path, env=env, stdout=open(tmp_path / "up.log", "wb"),  # noqa: SIM115
        stderr=subprocess.STDOUT, start_new_session=True,
    )


def test_ctrl_c_on_up_hands_back_each_running_run_in_one_line(tmp_path: Path) -> None:
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    up = start_up(tmp_path, api_port)
    try:
        wait_for(lambda: b"Ctrl-C stops everything." in (tmp_path / "up.log").read_bytes(),
                 180, 0.5, "initlab up to serve")
        spec = tiny_spec("interrupted", epochs=30, repeats=2, arms=ARMS)
        submitted = httpx.post(f"{api}/api/v1/experiments", json=spec, timeout=30)
        assert submitted.status_code == 201, submitted.text
        eid = submitted.json()["id"]
        training = wait_for(lambda: running_runs(api, eid), 180, 0.3, "a run to record an epoch")
        up.send_signal(signal.SIGINT)
        assert up.wait(120) == 0
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    output = (tmp_path / "up.log").read_text()
    assert "Traceback" not in output, output
    handed = re.findall(r"run (\d+) attempt 1 handed back to the queue: the worker is stopping; "
                        r"it goes on at phase main, epoch \d+ from its last checkpoint", output)
    assert sorted(int(run) for run in handed) == sorted(training), output
    with sqlite3.connect(tmp_path / "var" / "initlab.db") as db:
        states = dict(db.execute("SELECT id, status FROM run WHERE experiment_id = ?", (eid,)))
    assert set(states.values()) == {"queued"}  # nothing lost, nothing failed
