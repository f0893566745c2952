"""Checkpoints written off the training thread (issue 25, item 9).

At an epoch's end the training thread takes one copy of the stacked network's and optimiser's
state to the host (on a GPU, non-blocking copies queued behind the epoch's kernels) and hands it
to one writer thread per lockstep group. The writer splits it into the members' own states,
writes each member's file (serialise, temporary file, fsync, rename) and only then delivers
that member's rows (`on_epoch`: in the worker, the fenced commit that makes the file the
committed one), in epoch order. So a commit never names a file that is not whole on disk, and
training never waits for the disk or the database, only for the copy.

At most one epoch is in flight: the training thread waits for epoch N's write and delivery
before it decides who stops at the end of epoch N+1, so a stop that epoch N's rows cause (a
refused commit, a lost lease) is seen at the same epoch boundary as when the writes were
synchronous, and an error of the writer (a full disk: CheckpointError) is raised on the
training thread by then, exactly as it was raised before.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from core.training.checkpoint import save_checkpoint
from core.training.member import MetricRow
from core.training.stacked import member_snapshot


def _to_host(value: Any, non_blocking: bool) -> Any:
    """`value` with every tensor in it copied to the host (a copy even of a host tensor)."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", non_blocking=non_blocking, copy=True)
    if isinstance(value, dict):
        # A shallow copy keeps the mapping's type and attributes (a state_dict's _metadata).
        copied = copy.copy(value)
        for key in list(copied):
            copied[key] = _to_host(copied[key], non_blocking)
        return copied
    if isinstance(value, list | tuple):
        return type(value)(_to_host(v, non_blocking) for v in value)
    return value  # numbers, strings, None: immutable


class HostCopy:
    """A nested state's tensors copied to the host now; `value()` waits until the copies landed.

    On a GPU the copies are non-blocking (into pinned memory) and queued on the current stream
    behind the epoch's kernels, and the next epoch's kernels queue behind them, so the training
    thread goes on at once and the copy still holds this epoch's values.
    """

    def __init__(self, state: Any, device: torch.device) -> None:
        on_gpu = device.type == "cuda"
        self._value = _to_host(state, non_blocking=on_gpu)
        self._copied: torch.cuda.Event | None = None
        if on_gpu:
            self._copied = torch.cuda.Event()
            self._copied.record(torch.cuda.current_stream(device))

    def value(self) -> Any:
        if self._copied is not None:
            self._copied.synchronize()
        return self._value


@dataclass(frozen=True)
class MemberWrite:
    """A member's part of an epoch's writer job: its checkpoint (None: not this epoch), then
    its rows not yet delivered, one list per epoch, to `on_epoch`."""

    member: int  # its index in the stacked state
    path: Path | None
    record: dict[str, Any] | None  # Member.checkpoint's dict, less the network and optimiser
    rows: list[list[MetricRow]]
    on_epoch: Callable[[list[MetricRow]], None] | None


def write_epoch(state: HostCopy | None, members: int, writes: list[MemberWrite]) -> None:
    """One epoch's writer job: every member's file, then every member's rows (so a commit
    follows its file). Files first: the members' commits then follow each other closely, and
    a crash between them (which leaves the members at different epochs, to resume as separate
    groups, not stacked) has the same short window as when the writes were synchronous."""
    for w in writes:
        if w.path is not None and w.record is not None:
            assert state is not None
            model, optimizer = member_snapshot(state.value(), w.member, members)
            save_checkpoint({**w.record, "model": model, "optimizer": optimizer}, w.path)
    for w in writes:
        if w.on_epoch is not None:
            for rows in w.rows:
                w.on_epoch(rows)


class CheckpointWriter:
    """One background thread that runs each epoch's writes and deliveries, one epoch at a time.

    Use it as a context manager: leaving waits for the epoch in flight, so every checkpoint and
    row of the epochs trained is written and delivered before training returns.
    """

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._in_flight: Future[None] | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the writer thread once the epoch before it is done."""
        self.wait()
        self._in_flight = self._thread.submit(job)

    def wait(self) -> None:
        """Block until the epoch in flight is written and delivered; raise what it raised."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            # A failed write wins over what training raised since: written synchronously, it
            # would have ended the run before that epoch began.
            self.wait()
        finally:
            self._thread.shutdown()
