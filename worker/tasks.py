"""The one Celery task: execute a run given only its id (thin: the training lives in core)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import threading
import time
from typing import Any

from celery import Task
from celery.exceptions import Reject
from celery.signals import worker_init, worker_ready, worker_shutdown, worker_shutting_down
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import InterfaceError, OperationalError

from core.training.runner import RunResult, TrainingError
from runqueue.app import TASK_NAME, make_celery, publish_runs
from store import executions, results, workers
from store.artifacts import HandBack, artifacts_from
from store.config import get_settings
from store.db import Database, get_database
from worker import faults, group_task, shutdown_log
from worker.failures import (
    broken_device,
    describe,
    empty_device_cache,
    forget_frames,
    position,
    release_memory,
)
from worker.launch import RESTART_EXIT
from worker.ownership import Ownership
from worker.recovery import Recovery
from worker.runtime import environment, host_name, limit_device_memory
from worker.safety import unsafe_setup

log = logging.getLogger(__name__)
settings = get_settings()
app = make_celery(settings, include=["worker.tasks"])
# Infrastructure failures worth a retry; anything else a run raises is its own failure.
TRANSIENT = (OperationalError, InterfaceError, BrokerError, ConnectionError)
# Set on the worker's warm shutdown (SIGTERM): the running run stops at its next batch and
# goes back to the queue, to resume from its checkpoint on the next worker.
shutting_down = threading.Event()
shutdown_log.install()
if settings.fault_file is not None:  # testing only (worker/faults.py)
    faults.install()


def _stopped(owner: Ownership) -> str:
    """After should_stop: on a worker shutdown, queue the run again for another worker."""
    if not shutting_down.is_set() or owner.lost:
        owner.discard_uncommitted()
        log.warning("%s stopped: it no longer owns the run", owner.job.name)
        return "stopped"  # cancelled, or handed to another execution
    db = get_database(settings.database_url)
    dispatch = executions.hand_back(db, job=owner.job, reason="shutdown")
    if dispatch is not None:
        publish_runs(app, settings, [dispatch])
    where = position(owner.job.spec, owner.job.arm, owner.last)
    log.warning("%s handed back to the queue: the worker is stopping; it goes on at %s from its "
                "last checkpoint", owner.job.name, where)
    return "handed back"


def _hand_back_all(db: Database, owners: list[Ownership]) -> None:
    """After a transient error: the message's run waits for the task's retry (same message);
    group members, whose messages were skipped, go back to the queue with new ones."""
    with contextlib.suppress(*TRANSIENT):  # else recovery re-queues them once they are stale
        executions.hand_back(db, job=owners[0].job, reason="transient", new_message=False)
        mates = [executions.hand_back(db, job=o.job, reason="transient") for o in owners[1:]]
        publish_runs(app, settings, [d for d in mates if d is not None])


def _give_back_all(db: Database, owners: list[Ownership], error: HandBack) -> str:
    """This host cannot go on with a run (its checkpoint unreadable or unwritable here, or
    the data absent): it goes back to the queue counted, failing at INITLAB_HANDBACK_LIMIT;
    group mates not concerned go back uncounted. Never a start from scratch."""
    log.warning("%s handed back: %s", ", ".join(o.job.name for o in owners), error)
    ends = []
    for owner in owners:
        mine = error.run_id in (None, owner.job.run_id)
        end = "lost"
        with contextlib.suppress(*TRANSIENT):  # else recovery re-queues it once it is stale
            end = executions.give_back(
                db, job=owner.job, cause=str(error), limit=settings.handback_limit, counted=mine
            )
            dispatch = executions.dispatch_of(db, owner.job.run_id) if end == "queued" else None
            publish_runs(app, settings, [dispatch] if dispatch else [])
        if end == "lost":
            owner.discard_uncommitted()
        if end == "failed":
            log.warning("%s failed: %s", owner.job.name, error)
        ends.append({"queued": "handed back", "lost": "stopped"}.get(end, end))
    return ", ".join(ends)


class DeviceBroken(Exception):
    """This process's CUDA context is broken: its runs went back to the queue, it must exit."""


def _hand_back_broken(db: Database, owners: list[Ownership], error: BaseException) -> None:
    """A sticky CUDA error is the device's fault, not the runs': they go back to the queue, to
    resume from their checkpoints in a healthy process."""
    log.error(
        "%s: CUDA error, handing the runs back and restarting this slot: %s",
        ", ".join(o.job.name for o in owners),
        str(error).splitlines()[0],
    )
    dispatches = [executions.hand_back(db, job=o.job, reason="device") for o in owners]
    publish_runs(app, settings, [d for d in dispatches if d is not None])


def _conclude(
    db: Database, owner: Ownership, result: RunResult | None, error: BaseException | None
) -> str:
    """Record how one run ended (done, failed, stopped or handed back); returns that."""
    job = owner.job
    if result is not None and result.status == "cancelled":
        return _stopped(owner)
    if result is not None and result.status == "failed":
        error = TrainingError(result.error)
        log.warning("%s failed: %s", job.name, result.error)
    failure = None if error is None else describe(error, position(job.spec, job.arm, owner.last))
    if failure is not None:
        finished = executions.finish(db, job=job, status="failed", error=failure)
    else:
        finished = executions.finish(db, job=job, status="done", result=result)
    if not finished:
        owner.discard_uncommitted()
        log.warning("%s ended after it lost the run; its result is discarded", job.name)
        return "stopped"
    if failure is not None:
        return "failed"
    try:  # the run is done whatever happens here; the next finished run asks again
        results.stop_if_decided(db, experiment_id=job.experiment_id)
    except TRANSIENT:
        log.warning("stop_when_decided check after run %s failed", job.run_id, exc_info=True)
    return "done"


def execute(run_id: int, *, task_id: str, worker: str) -> str:
    """Claim the run (with the queued runs of its repeat group, worker/group_task.py), train
    them through core.run_group, record how each ended; returns that, one word per run."""
    db = get_database(settings.database_url)
    artifacts = artifacts_from(settings)
    jobs = executions.claim_group(
        db,
        run_id=run_id,
        task_id=task_id,
        worker=worker,
        env=environment(settings.device),
        artifact_dir=artifacts.folder,
        heartbeat_timeout=settings.heartbeat_timeout,
        mates=group_task.repeat_group,
    )
    if not jobs:
        return "skipped"  # finished, cancelled, superseded by a newer message, or held elsewhere
    for job in jobs:
        where = (
            f"resuming from {artifacts.where(job.resume_from)}"
            if job.resume_from
            else "from the start"
        )
        grouped = f" in a group of {len(jobs)}" if len(jobs) > 1 else ""
        log.info("%s started on %s%s, %s", job.name, worker, grouped, where)
    _current_run.update(id=run_id)
    faults.arm(settings.fault_file)
    owners = [Ownership(db, settings, job, shutting_down, artifacts) for job in jobs]
    ends: list[RunResult | None] = [None] * len(owners)
    failure: Exception | None = None
    try:
        ends = list(
            group_task.train(
                owners, device=settings.device, data_root=settings.data_root, artifacts=artifacts
            )
        )
    except TRANSIENT:
        _hand_back_all(db, owners)
        raise
    except HandBack as error:  # a checkpoint or the data this host cannot read
        return _give_back_all(db, owners, error)
    except Exception as error:  # DataError, CheckpointError, CUDA OOM, a bug: every member's
        if broken_device(error):
            _hand_back_broken(db, owners, error)
            raise DeviceBroken(str(error).splitlines()[0]) from None
        log.exception("%s failed", ", ".join(o.job.name for o in owners))
        failure = error
    finally:
        faults.disarm()
        _current_run.update(id=None)
    if failure is not None or any(end and end.status == "failed" for end in ends):
        release_memory(failure)  # its traceback's frames cleared first: they hold the tensors
    else:
        empty_device_cache()
    return ", ".join(_conclude(db, o, end, failure) for o, end in zip(owners, ends, strict=True))


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=20)
def run_task(self: Task, run_id: int) -> str:
    """Execute run `run_id`; idempotent, so a redelivered message is harmless."""
    if shutting_down.is_set():  # a warm shutdown still takes one more message: put it back
        raise Reject(shutdown_log.SHUTDOWN_REASON, requeue=True)
    worker = self.request.hostname or socket.gethostname()
    try:
        return execute(run_id, task_id=str(self.request.id), worker=worker)
    except DeviceBroken:
        logging.shutdown()
        os._exit(RESTART_EXIT)  # nothing more on a dead context; the supervisor restarts us
    except TRANSIENT as error:
        log.warning("run %s: transient infrastructure error, retrying: %s", run_id, error)
        forget_frames(error)  # Celery keeps the error for the retry: not the run's tensors
        release_memory()
        raise self.retry(exc=error, countdown=min(60, 2**self.request.retries)) from None


_current_run: dict[str, int | None] = {"id": None}


class Housekeeper(threading.Thread):
    """Per worker process: beat the worker's row and take part in recovery periodically."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True, name="housekeeper")
        self.worker_name, self.stopping = name, threading.Event()
        self.db = get_database(settings.database_url)
        self.recovery = Recovery(self.db, app, settings, holder=name)

    def run(self) -> None:
        period = min(settings.sweep_interval, settings.heartbeat_interval)
        last_pass = 0.0
        while not self.stopping.wait(period):
            try:
                workers.beat_worker(self.db, name=self.worker_name, run_id=_current_run["id"])
                if time.monotonic() - last_pass >= settings.sweep_interval:
                    last_pass = time.monotonic()
                    self.recovery.recover_once()
            except Exception:
                log.warning("housekeeping failed; trying again", exc_info=True)


_housekeeper: list[Housekeeper] = []


@worker_init.connect
def _refuse_unsafe(**_: Any) -> None:
    """A worker started directly (not through `initlab worker`) refuses alike."""
    refusal = unsafe_setup(settings, host_name())
    if refusal is not None:
        print(f"initlab: error: {refusal}", file=sys.stderr, flush=True)
        os._exit(1)  # Celery logs and swallows an exception raised in a signal handler


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", None) or socket.gethostname()
    db = get_database(settings.database_url)
    workers.register_worker(
        db,
        name=name,
        host=host_name(),
        pid=os.getpid(),
        device=f"{settings.device} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}".strip(),
    )
    fraction = limit_device_memory(settings.device)
    if fraction is not None:
        log.info("%s: this slot may use %.0f%% of its GPU's memory", name, fraction * 100)
    keeper = Housekeeper(name)
    keeper.start()
    _housekeeper.append(keeper)


@worker_shutting_down.connect
def _on_shutting_down(**_: Any) -> None:
    shutting_down.set()


@worker_shutdown.connect
def _on_shutdown(**_: Any) -> None:
    for keeper in _housekeeper:
        keeper.stopping.set()
        try:
            keeper.recovery.release()
            workers.unregister_worker(keeper.db, name=keeper.worker_name)
        except Exception:
            log.warning("could not unregister worker %s", keeper.worker_name, exc_info=True)
