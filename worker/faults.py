"""Testing only: inject a fault at a chosen point of a run, to prove that nothing is lost.

Inactive unless INITLAB_FAULT_FILE is set (tests/reliability sets it). An execution that finds
the file when it has claimed its run reads one JSON object from it,

    {"point": "load" | "batch" | "evaluate" | "before_record" | "in_record",
     "at": n, "action": "kill" | "oom" | "pause"}

and acts the n-th time it reaches the point. The file is deleted before the action, so a fault
fires once, in one execution. Points:

- load: the start of the run's data loading (worker.group_task reaches it before load_run_data)
- batch: a training batch boundary, mid-epoch (the should_stop check)
- evaluate: the start of an evaluation pass (core.training.runner's evaluate)
- before_record: an epoch's checkpoint is on disk, its metric rows are not yet committed
- in_record: inside the transaction that commits an epoch's rows, after they are written

Actions: kill (SIGKILL this process, as when a machine dies), oom (raise the error CUDA raises
when out of memory: there is no GPU to exhaust in the tests), pause (create `<file>.paused` and
wait until it is removed, at most 60 s, so that a test can act in that window).
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POINTS = ("load", "batch", "evaluate", "before_record", "in_record")
ACTIONS = ("kill", "oom", "pause")
PAUSE_LIMIT = 60.0


@dataclass
class Fault:
    point: str
    at: int
    action: str
    file: Path
    hits: int = 0


_active: list[Fault] = []  # the armed fault of this process's one execution (solo pool)


def arm(path: Path | None) -> None:
    """At the start of an execution: read the fault file, if there is one."""
    _active.clear()
    if path is None:
        return
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    point, action = data.get("point"), data.get("action", "kill")
    if point in POINTS and action in ACTIONS:
        _active.append(Fault(point, int(data.get("at", 1)), action, path))


def disarm() -> None:
    """At the end of an execution: forget a fault that did not fire."""
    _active.clear()


def reach(point: str) -> None:
    """Count a visit of `point`; fire the armed fault on its n-th visit."""
    if not _active or _active[0].point != point:
        return
    fault = _active[0]
    fault.hits += 1
    if fault.hits >= fault.at:
        _active.clear()
        fault.file.unlink(missing_ok=True)
        _fire(fault)


def _fire(fault: Fault) -> None:
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault.action == "oom":
        import torch

        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB (injected by INITLAB_FAULT_FILE)"
        )
    else:
        marker = fault.file.with_name(fault.file.name + ".paused")
        marker.touch()
        deadline = time.monotonic() + PAUSE_LIMIT
        while marker.exists() and time.monotonic() < deadline:
            time.sleep(0.02)


def install() -> None:
    """Make the points in core reachable: wrap what core's training loop calls ('load' is
    reached by worker.group_task itself). 'batch' counts training batches only (evaluation
    batches check should_stop too, but are no 'batch' visit)."""
    import core.training.lockstep

    real_evaluate = core.training.lockstep.evaluate_members

    def evaluate_members(*args: Any, **kwargs: Any) -> Any:
        reach("evaluate")
        return real_evaluate(*args, **kwargs)

    core.training.lockstep.evaluate_members = evaluate_members  # type: ignore[assignment]
    train = core.training.lockstep.train_members_epoch

    def train_members_epoch(*args: Any, should_stop: Any = None, **kwargs: Any) -> Any:
        def batch() -> bool:
            reach("batch")
            return bool(should_stop and should_stop())

        return train(*args, should_stop=batch, **kwargs)

    core.training.lockstep.train_members_epoch = train_members_epoch  # type: ignore[assignment]
