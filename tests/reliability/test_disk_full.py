"""The disk fills up while a checkpoint is written: the previous checkpoint stays intact and
loadable (core/training/checkpoint.py writes a temporary file and renames it), the run fails
saying so, and once there is room again a retry resumes it with nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.training.checkpoint import load_checkpoint
from tests.reliability.helpers import FaultFile, assert_nothing_lost, fault_spec
from tests.service.servers import REPO, Api, Service

# Saves checkpoint A, then limits this process's file size (RLIMIT_FSIZE) below checkpoint
# B's size and saves B over A: a full disk as seen by one process, without mounting anything.
SUBPROCESS = textwrap.dedent(
    """
    import resource, sys, torch
    from pathlib import Path
    from core.training.checkpoint import CheckpointError, save_checkpoint
    path = Path(sys.argv[1])
    save_checkpoint({"model": {"w": torch.ones(1000)}, "epoch": 1}, path)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # B is ~400 kB
    try:
        save_checkpoint({"model": {"w": torch.zeros(100_000)}, "epoch": 2}, path)
    except CheckpointError as error:
        print(error)
    """
)

pytestmark = pytest.mark.slow  # live servers and workers


def test_checkpoint_write_over_the_size_limit_keeps_the_previous_one(tmp_path: Path) -> None:
    path = tmp_path / "run.pt"
    done = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert f"cannot write checkpoint {path}: [Errno 27] File too large" in done.stdout
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and bool((state["model"]["w"] == 1).all())
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"], "no temporary file left behind"


def _fill(folder: Path, leave: int) -> Path:
    """A file that takes all but `leave` bytes of the file system of `folder`."""
    stats = os.statvfs(folder)
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        handle.truncate(0)
        handle.write(b"\0" * max(0, stats.f_bavail * stats.f_frsize - leave))
    return filler


def test_worker_disk_full_while_checkpointing(
    sqlite_service: Service, sqlite_faults: FaultFile
) -> None:
    artifacts = Path(sqlite_service.backend.env["INITLAB_ARTIFACT_DIR"])
    if not os.path.ismount(artifacts):
        pytest.skip("this machine does not let the tests mount a tmpfs for the checkpoints")
    api = Api(sqlite_service.url)
    spec = fault_spec("disk-full")
    sqlite_faults.set("before_record", at=4, action="pause")  # main epoch 1 checkpointed
    created = api.submit(spec)
    sqlite_faults.wait_paused()
    filler = _fill(artifacts, leave=64 * 1024)  # a checkpoint is ~260 kB
    try:
        sqlite_faults.resume()
        api.wait_status(created["id"], ("failed",), timeout=60)
        (run,) = api.runs(created["id"])
        # The store keeps the key, relative to the artifact root (issue 24).
        committed = artifacts.resolve() / run["checkpoint"]
        assert run["error"] == (
            f"CheckpointError: cannot write checkpoint {committed}: [Errno 28] "
            "No space left on device [in phase main, epoch 2]"
        ), run["error"]
        state = load_checkpoint(committed)  # weights_only=True
        assert (state["phase"], state["epoch"]) == ("main", 1)
        assert (run["last_phase"], run["last_epoch"]) == ("main", 1)
        assert sorted(p.name for p in artifacts.iterdir() if p.name.startswith(".")) == []
    finally:
        filler.unlink()
    assert api.http.post(f"/runs/{run['id']}/retry").status_code == 200
    api.wait_status(created["id"])
    assert_nothing_lost(api, created["id"], spec)
