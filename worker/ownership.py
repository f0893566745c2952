"""One execution's hold on its run: heartbeats, progress, the stop check, fenced epoch writes.

The execution stops at its next batch once it no longer owns the run (re-queued as lost or
stalled, cancelled, retried, or taken over by another execution), and says so in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from store import executions
from store.artifacts import Artifacts
from store.config import Settings
from store.db import Database
from store.executions import Job
from worker import faults

log = logging.getLogger(__name__)


def prepare_checkpoint(job: Job, artifacts: Artifacts) -> None:
    """Give this execution its own copy of the committed checkpoint (ArtifactUnavailable when
    this host cannot read it: a run is never started over silently), then drop the files of
    earlier executions but the committed one, which stays until this execution commits its
    own (should it die first, the next one resumes from that)."""
    if job.resume_from is not None:
        artifacts.fetch(job.run_id, job.resume_from, job.checkpoint)
    artifacts.drop_older(job.run_id, job.fence, keep=job.resume_from)


class Ownership:
    """Beats the run from a thread (marking progress when batches advanced) and answers
    should_stop from a cached ownership check."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        job: Job,
        shutting_down: threading.Event,
        artifacts: Artifacts | None = None,
    ) -> None:
        self.db, self.settings, self.job, self.shutting_down = db, settings, job, shutting_down
        self.artifacts = artifacts  # None: nothing to push (tests without a store)
        self._pushed: tuple[int, int] | None = None  # (mtime_ns, size) of the file last pushed
        self._committed = False  # whether an epoch of this execution committed its key
        self.lost = False
        self.last = job.last  # (phase, epoch) of the last epoch recorded
        self.batches, self._beaten = 0, 0
        self._checked = 0.0

    def __enter__(self) -> Ownership:
        BEATS.add(self)
        return self

    def __exit__(self, *exc: object) -> None:
        BEATS.remove(self)

    def _lose(self, why: str) -> None:
        if not self.lost:
            log.warning(
                "%s: %s; this execution no longer owns the run, stopping", self.job.name, why
            )
        self.lost = True

    def beat(self) -> None:
        """One heartbeat (marking progress when batches advanced since the last one)."""
        batches = self.batches
        try:
            if not executions.beat(self.db, job=self.job, progressed=batches != self._beaten):
                self._lose("heartbeat refused")
            self._beaten = batches
        except Exception:  # the DB may be back at the next beat
            log.warning("heartbeat of %s failed", self.job.name, exc_info=True)

    def should_stop(self) -> bool:
        """True once the run was cancelled, handed to another execution, or the worker stops."""
        self.batches += 1
        if self.shutting_down.is_set():
            return True
        now = time.monotonic()
        if not self.lost and now - self._checked >= self.settings.stop_poll_interval:
            self._checked = now
            if not executions.owns(self.db, job=self.job):
                self._lose("run re-queued, cancelled or taken over")
        return self.lost

    def record_digest(self, digest: str) -> None:
        """Store the digest of the data this execution read (kept from the first one)."""
        if not executions.record_digest(self.db, job=self.job, digest=digest):
            self._lose("data digest refused")

    def on_epoch(self, rows: list[dict[str, Any]]) -> None:
        """Rows, progress and the committed checkpoint in one fenced transaction."""
        self._push()
        faults.reach("before_record")
        recorded = executions.record_epoch(
            self.db, job=self.job, rows=rows, inside=lambda: faults.reach("in_record")
        )
        if not recorded:
            self._lose("epoch rows refused")
            return
        if rows:
            self.last = (rows[-1]["phase"], int(rows[-1]["epoch"]))
        if self.artifacts is not None and not self._committed:
            self._committed = True  # this execution's key is the committed one now
            self.artifacts.drop_older(self.job.run_id, self.job.fence)

    def on_progress(self, phase: str, epoch: int, epochs: int) -> None:
        """After each epoch, on the training thread (testing only: INITLAB_EPOCH_DELAY slows
        the training itself, not the checkpoint writer that commits behind it)."""
        if self.settings.epoch_delay:
            time.sleep(self.settings.epoch_delay)

    def discard_uncommitted(self) -> None:
        """Once this execution has stopped without the run: remove its checkpoint unless it
        is the run's committed one (a later retry resumes from that). A stale execution may
        write an epoch's file after the new owner dropped the older ones; nothing reads it."""
        if self.artifacts is None:
            return
        try:
            if executions.committed_checkpoint(self.db, self.job.run_id) != self.job.key:
                self.artifacts.discard(self.job.key)
        except Exception:  # a leftover harms nothing; the next owner's commit drops it
            log.warning("%s: its checkpoint was not removed", self.job.name, exc_info=True)

    def _push(self) -> None:
        """Put the epoch's checkpoint under this execution's key before the rows commit it
        (once per file: a resume replays several epochs' rows after one checkpoint)."""
        if self.artifacts is None or not self.job.checkpoint.exists():
            return
        stat = self.job.checkpoint.stat()
        if self._pushed != (stat.st_mtime_ns, stat.st_size):
            self.artifacts.push(self.job.run_id, self.job.key)
            self._pushed = (stat.st_mtime_ns, stat.st_size)


class Beats:
    """One heartbeat loop per worker process, beating every execution it holds in turn: a
    group of R runs costs one thread and one database connection, not R."""

    def __init__(self) -> None:
        self.owners: list[Ownership] = []
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, owner: Ownership) -> None:
        with self.lock:
            self.owners.append(owner)
            if self.thread is None:
                self.thread = threading.Thread(target=self._loop, daemon=True, name="heartbeat")
                self.thread.start()

    def remove(self, owner: Ownership) -> None:
        with self.lock:
            if owner in self.owners:
                self.owners.remove(owner)
            if not self.owners:
                self.wake.set()  # the loop ends now rather than after its next wait

    def _loop(self) -> None:
        while True:
            with self.lock:
                owners = list(self.owners)
                if not owners:
                    self.thread = None
                    self.wake.clear()
                    return
            woken = self.wake.wait(owners[0].settings.heartbeat_interval)
            self.wake.clear()
            if woken:
                continue  # the last owner left: end unless another came meanwhile
            for owner in owners:
                owner.beat()


BEATS = Beats()
