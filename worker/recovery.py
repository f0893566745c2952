"""Recovery of runs whose worker or message was lost; no run stays running or queued forever.

Every worker's housekeeper calls `recover_once` each INITLAB_SWEEP_INTERVAL; only the worker
holding the "recovery" lease (a row in the database, on the database clock) does the work, so
its cost does not grow with the number of workers:
- lost and stalled runs go back to the queue (store.liveness), their old owner fenced off;
- at most once per INITLAB_QUEUE_GRACE, the lost-message check: queued runs older than the
  grace are compared in pages against the broker's task ids, and those without a message
  (a Redis restart, a publish that failed) are published again;
- each live calibration search gets one coordinator pass (worker/search_coordinator.py).
Every change is conditional on the old message id (or fence) under the run's lock, so even two
workers that both believe they hold the lease cannot double-queue a run.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from celery import Celery

from runqueue.app import publish_runs
from runqueue.inspect import pending_task_ids
from store import liveness
from store.config import Settings
from store.db import Database
from store.runs import Dispatch
from worker.search_coordinator import advance_all

log = logging.getLogger(__name__)
LEASE = "recovery"
PAGE = 1000
# Where the broker cannot be inspected, a queued run is republished only after this many
# queue_grace periods (a duplicate message is harmless, only wasteful).
BLIND_FACTOR = 60


@dataclass
class RecoveryReport:
    """What one pass did; `held` is False when another worker holds the lease."""

    held: bool = False
    requeued: list[int] = field(default_factory=list)  # running, heartbeat stale
    stalled: list[int] = field(default_factory=list)  # running, no progress
    republished: list[int] = field(default_factory=list)  # queued, message lost
    checked: int = 0  # queued runs compared with the broker
    seconds: float = 0.0


def republish_lost(db: Database, settings: Settings) -> tuple[list[Dispatch], int]:
    """Queued runs older than the grace whose message the broker lacks get a new message id;
    returns their dispatches and how many queued runs were compared."""
    pending = pending_task_ids(settings)  # read first: a message taken later is in this set
    grace = settings.queue_grace * (1 if pending is not None else BLIND_FACTOR)
    dispatches, checked = [], 0
    for page in liveness.queued_pages(db, older_than=grace, page=PAGE):
        checked += len(page)
        for run_id, old_task, priority, device in page:
            if pending is not None and old_task in pending:
                continue
            dispatch = liveness.republish(
                db, run_id=run_id, old_task=old_task, priority=priority, device=device
            )
            if dispatch is not None:
                dispatches.append(dispatch)
                log.warning(
                    "run %s: queued without a message in the broker, published again", run_id
                )
    return dispatches, checked


class Recovery:
    """One worker's view of recovery: the lease, and when it last checked for lost messages."""

    def __init__(self, db: Database, app: Celery, settings: Settings, holder: str) -> None:
        self.db, self.app, self.settings, self.holder = db, app, settings, holder
        self.last_message_check = float("-inf")

    def recover_once(self, *, force_message_check: bool = False) -> RecoveryReport:
        """One pass, if this worker holds (or takes) the lease."""
        began = time.perf_counter()
        settings = self.settings
        # The lease outlives two missed passes, so a slow pass does not hand it over, and a
        # holder that died is replaced within three.
        seconds = 3 * settings.sweep_interval
        report = RecoveryReport()
        if not liveness.take_lease(self.db, name=LEASE, holder=self.holder, seconds=seconds):
            report.seconds = time.perf_counter() - began
            return report
        report.held = True
        lost = liveness.requeue_lost(self.db, heartbeat_timeout=settings.heartbeat_timeout)
        stalled = liveness.requeue_stalled(self.db, stall_timeout=settings.stall_timeout)
        republished: list[Dispatch] = []
        due = time.monotonic() - self.last_message_check >= settings.queue_grace / 2
        if due or force_message_check:
            self.last_message_check = time.monotonic()
            republished, report.checked = republish_lost(self.db, settings)
        publish_runs(self.app, settings, [*lost, *stalled, *republished])
        advance_all(self.db, self.app, settings)  # calibration searches: stateless passes
        report.requeued = [d.run_id for d in lost]
        report.stalled = [d.run_id for d in stalled]
        report.republished = [d.run_id for d in republished]
        report.seconds = time.perf_counter() - began
        return report

    def release(self) -> None:
        """Give the lease up (a worker shutting down), so another takes over at once."""
        liveness.release_lease(self.db, name=LEASE, holder=self.holder)
