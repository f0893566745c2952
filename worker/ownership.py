"""One execution's hold on its run: heartbeats, progress, the stop check, fenced epoch writes.

The execution stops at its next batch once it no longer owns the run (re-queued as lost or
stalled, cancelled, retried, or taken over by another execution), and says so in the log.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from typing import Any

from store import executions
from store.config import Settings
from store.db import Database
from store.executions import Job
from worker import faults

log = logging.getLogger(__name__)


def prepare_checkpoint(job: Job) -> None:
    """Give this execution its own copy of the committed checkpoint, and drop the files of
    earlier executions: none of them may be resumed or overwritten from now on."""
    source = job.resume_from
    if source is not None and source != job.checkpoint and source.exists():
        partial = job.checkpoint.with_name(f".{job.checkpoint.name}.copy")
        job.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, partial)
        os.replace(partial, job.checkpoint)
    for old in job.checkpoint.parent.glob(f"{job.run_id}.*.pt"):
        fence = old.name.split(".")[1]
        if fence.isdigit() and int(fence) < job.fence:
            old.unlink(missing_ok=True)


class Ownership:
    """Beats the run from a thread (marking progress when batches advanced) and answers
    should_stop from a cached ownership check."""

    def __init__(
        self, db: Database, settings: Settings, job: Job, shutting_down: threading.Event
    ) -> None:
        self.db, self.settings, self.job, self.shutting_down = db, settings, job, shutting_down
        self.lost = False
        self.last = job.last  # (phase, epoch) of the last epoch recorded
        self.batches, self._beaten = 0, 0
        self._checked, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._beat_loop, daemon=True, name="heartbeat")

    def __enter__(self) -> Ownership:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _lose(self, why: str) -> None:
        if not self.lost:
            log.warning(
                "%s: %s; this execution no longer owns the run, stopping", self.job.name, why
            )
        self.lost = True

    def _beat_loop(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval):
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

    def on_epoch(self, rows: list[dict[str, Any]]) -> None:
        """Rows, progress and the committed checkpoint in one fenced transaction."""
        faults.reach("before_record")
        recorded = executions.record_epoch(
            self.db, job=self.job, rows=rows, inside=lambda: faults.reach("in_record")
        )
        if not recorded:
            self._lose("epoch rows refused")
            return
        if rows:
            self.last = (rows[-1]["phase"], int(rows[-1]["epoch"]))
        if self.settings.epoch_delay:
            time.sleep(self.settings.epoch_delay)
