"""The one Celery task: execute a run given only its id (thin: the training lives in core)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from typing import Any

from celery import Task
from celery.exceptions import Reject
from celery.signals import worker_ready, worker_shutdown, worker_shutting_down
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import InterfaceError, OperationalError

from core.runner import RunCancelled, run_single
from runqueue.app import TASK_NAME, make_celery, publish_runs
from store import executions, results, workers
from store.config import get_settings
from store.db import get_database
from store.executions import Job
from worker import faults
from worker.failures import describe, position, release_memory
from worker.ownership import Ownership, prepare_checkpoint
from worker.recovery import Recovery
from worker.runtime import environment

log = logging.getLogger(__name__)
settings = get_settings()
app = make_celery(settings, include=["worker.tasks"])
# Infrastructure failures worth a retry; anything else a run raises is its own failure.
TRANSIENT = (OperationalError, InterfaceError, BrokerError, ConnectionError)
# Set on the worker's warm shutdown (SIGTERM): the running run stops at its next batch and
# goes back to the queue, to resume from its checkpoint on the next worker.
shutting_down = threading.Event()
if settings.fault_file is not None:  # testing only (worker/faults.py)
    faults.install()


def _stopped(owner: Ownership) -> str:
    """After should_stop: on a worker shutdown, queue the run again for another worker."""
    if not shutting_down.is_set() or owner.lost:
        log.warning("%s stopped: it no longer owns the run", owner.job.name)
        return "stopped"  # cancelled, or handed to another execution
    db = get_database(settings.database_url)
    dispatch = executions.hand_back(db, job=owner.job, reason="shutdown")
    if dispatch is not None:
        publish_runs(app, settings, [dispatch])
    return "handed back"


def _train(job: Job, owner: Ownership) -> Any:
    prepare_checkpoint(job)
    with owner:
        return run_single(
            job.spec,
            job.arm,
            job.repeat,
            device=settings.device,
            data_root=settings.data_root,
            checkpoint_path=job.checkpoint,
            on_epoch=owner.on_epoch,
            should_stop=owner.should_stop,
        )


def execute(run_id: int, *, task_id: str, worker: str) -> str:
    """Claim the run, train it through core.run_single, record how it ended; returns that."""
    db = get_database(settings.database_url)
    job = executions.claim(
        db,
        run_id=run_id,
        task_id=task_id,
        worker=worker,
        env=environment(settings.device),
        artifact_dir=settings.artifact_dir,
        heartbeat_timeout=settings.heartbeat_timeout,
    )
    if job is None:
        return "skipped"  # finished, cancelled, superseded by a newer message, or held elsewhere
    log.info(
        "%s started on %s, %s",
        job.name,
        worker,
        f"resuming from {job.resume_from}" if job.resume_from else "from the start",
    )
    _current_run.update(id=run_id)
    faults.arm(settings.fault_file)
    owner = Ownership(db, settings, job, shutting_down)
    failure: str | None = None
    try:
        result = _train(job, owner)
    except RunCancelled:
        return _stopped(owner)
    except TRANSIENT:
        with contextlib.suppress(*TRANSIENT):  # else recovery re-queues it once it is stale
            executions.hand_back(db, job=job, reason="transient", new_message=False)
        raise
    except Exception as error:  # TrainingError, DataError, CheckpointError, CUDA OOM, a bug
        log.exception("%s failed", job.name)
        failure = describe(error, position(job.spec, job.arm, owner.last))
    finally:
        faults.disarm()
        _current_run.update(id=None)
    if failure is not None:
        release_memory()  # here, past the except: its traceback no longer holds the tensors
        finished = executions.finish(db, job=job, status="failed", error=failure)
    else:
        finished = executions.finish(db, job=job, status="done", result=result)
    if not finished:
        log.warning("%s ended after it lost the run; its result is discarded", job.name)
        return "stopped"
    if failure is not None:
        return "failed"
    try:  # the run is done whatever happens here; the next finished run asks again
        results.stop_if_decided(db, experiment_id=job.experiment_id)
    except TRANSIENT:
        log.warning("stop_when_decided check after run %s failed", run_id, exc_info=True)
    return "done"


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=20)
def run_task(self: Task, run_id: int) -> str:
    """Execute run `run_id`; idempotent, so a redelivered message is harmless."""
    if shutting_down.is_set():  # a warm shutdown still takes one more message: put it back
        raise Reject("worker shutting down", requeue=True)
    worker = self.request.hostname or socket.gethostname()
    try:
        return execute(run_id, task_id=str(self.request.id), worker=worker)
    except TRANSIENT as error:
        log.warning("run %s: transient infrastructure error, retrying: %s", run_id, error)
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


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", None) or socket.gethostname()
    db = get_database(settings.database_url)
    workers.register_worker(
        db,
        name=name,
        host=socket.gethostname(),
        pid=os.getpid(),
        device=f"{settings.device} {os.environ.get('CUDA_VISIBLE_DEVICES', '')}".strip(),
    )
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
