"""Slot supervision (worker/launch.py): slots die with their supervisor, even a SIGKILLed one,
and a slot whose CUDA context broke is restarted alone, its runs handed back first.

The supervisors here run in processes of their own (a supervisor owns its signal handlers),
over small Python children that stand in for Celery slots.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from sqlalchemy import select

import core.training.lockstep
from core.spec import parse_spec
from store import runs
from store.config import Settings
from store.db import Database
from store.models import Run
from tests.service.servers import tiny_spec, wait_for
from tests.service.test_store import db  # noqa: F401  (fixture: each dialect)
from worker import tasks
from worker.launch import RESTART_EXIT

REPO = Path(__file__).resolve().parents[2]
# A child that records each start (its pid) and its SIGTERM; `flaky` asks for one restart.
CHILD = """
import os, signal, sys, time
from pathlib import Path
folder, name = Path(sys.argv[1]), sys.argv[2]
starts = folder / f"{name}.starts"
with starts.open("a") as out:
    out.write(f"{os.getpid()}\\n")
def stop(*_):
    (folder / f"{name}.{os.getpid()}.terminated").touch()
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
if name == "flaky" and len(starts.read_text().split()) == 1:
    sys.exit(RESTART_EXIT)
time.sleep(120)
""".replace("RESTART_EXIT", str(RESTART_EXIT))
SUPERVISOR = """
import sys
from worker.launch import Supervisor
supervisor = Supervisor(stop_grace=5.0)
child, folder = sys.argv[1:3]
for name in sys.argv[3:]:
    supervisor.start(name, [sys.executable, "-c", child, folder, name])
sys.exit(supervisor.wait())
"""


def _supervise(tmp_path: Path, *names: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, CHILD, str(tmp_path), *names],
        cwd=REPO,
        env=dict(os.environ),
    )


def _starts(tmp_path: Path, name: str) -> list[int]:
    path = tmp_path / f"{name}.starts"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def test_slots_exit_when_their_supervisor_is_sigkilled(tmp_path: Path) -> None:
    supervisor = _supervise(tmp_path, "slot")
    wait_for(lambda: _starts(tmp_path, "slot"), 60, 0.05, "the slot to start")
    (pid,) = _starts(tmp_path, "slot")
    supervisor.kill()  # SIGKILL: no handler of the supervisor runs
    supervisor.wait()
    terminated = tmp_path / f"slot.{pid}.terminated"
    wait_for(terminated.exists, 60, 0.05, "the orphaned slot to get SIGTERM")


def test_a_slot_that_asks_for_a_restart_restarts_alone(tmp_path: Path) -> None:
    supervisor = _supervise(tmp_path, "flaky", "steady")
    wait_for(lambda: len(_starts(tmp_path, "flaky")) == 2, 60, 0.05, "flaky's restart")
    wait_for(lambda: _starts(tmp_path, "steady"), 60, 0.05, "the steady slot to start")
    assert supervisor.poll() is None
    (steady,) = _starts(tmp_path, "steady")  # started once, never stopped
    assert not list(tmp_path.glob("steady.*.terminated"))
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=60) == 0
    restarted = _starts(tmp_path, "flaky")[1]
    assert (tmp_path / f"steady.{steady}.terminated").exists()
    assert (tmp_path / f"flaky.{restarted}.terminated").exists()


def test_a_sticky_cuda_error_hands_the_runs_back_for_a_new_process(
    db: Database,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Injected at the first training batch: the run is queued again (not failed, its error
    empty), with a new message, and the task asks for its process to end (DeviceBroken)."""
    spec = parse_spec(tiny_spec("illegal-address", epochs=1))
    with db.transaction() as session:
        _, dispatches = runs.create_experiment(session, spec=spec, priority=5)
    monkeypatch.setattr(tasks, "settings", Settings(database_url=db.url, artifact_dir=tmp_path))
    published: list[int] = []
    monkeypatch.setattr(
        tasks, "publish_runs", lambda _app, _s, ds: published.extend(d.run_id for d in ds)
    )

    def illegal_address(*_: object, **__: object) -> None:
        raise torch.AcceleratorError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(core.training.lockstep, "train_members_epoch", illegal_address)
    run_id = dispatches[0].run_id
    with pytest.raises(tasks.DeviceBroken, match="illegal memory access"):
        tasks.execute(run_id, task_id=dispatches[0].task_id, worker="w@h")
    with db.session() as session:
        run = session.scalars(select(Run).where(Run.id == run_id)).one()
        assert (run.status, run.requeue_reason, run.error) == ("queued", "device", None)
        assert str(run.task_id) != dispatches[0].task_id
    assert published == [run_id]


def test_out_of_memory_is_no_broken_device() -> None:
    from worker.failures import broken_device

    assert broken_device(torch.AcceleratorError("CUDA error: device-side assert triggered"))
    assert broken_device(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not broken_device(torch.cuda.OutOfMemoryError("CUDA out of memory."))
    assert not broken_device(RuntimeError("shape mismatch"))
