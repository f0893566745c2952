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

from api.config import get_settings
from api.db import get_database
from core.runner import RunCancelled, run_single
from worker import faults, store
from worker.celery_app import TASK_NAME, make_celery, publish_runs
from worker.failures import describe, position, release_memory
from worker.runtime import environment
from worker.sweep import sweep_once

log = logging.getLogger(__name__)
settings = get_settings()
app = make_celery(settings)
# Infrastructure failures worth a retry; anything else a run raises is its own failure.
TRANSIENT = (OperationalError, InterfaceError, BrokerError, ConnectionError)
# Set on the worker's warm shutdown (SIGTERM): the running run stops at its next batch and
# goes back to the queue, to resume from its checkpoint on the next worker.
shutting_down = threading.Event()
if settings.fault_file is not None:  # testing only (worker/faults.py)
    faults.install()


class Ownership:
    """Heartbeats the run from a thread and answers should_stop from a cached DB read."""

    def __init__(self, job: store.Job, task_id: str) -> None:
        self.job, self.task_id = job, task_id
        self.db = get_database(settings.database_url)
        self.lost = False
        self.last = job.last  # (phase, epoch) of the last epoch recorded
        self._checked, self._stop = 0.0, threading.Event()
        self._thread = threading.Thread(target=self._beat_loop, daemon=True, name="heartbeat")

    def __enter__(self) -> Ownership:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat_loop(self) -> None:
        while not self._stop.wait(settings.heartbeat_interval):
            try:
                if not store.beat(self.db, run_id=self.job.run_id, task_id=self.task_id):
                    self.lost = True
            except Exception:  # the DB may be back at the next beat
                log.warning("heartbeat of run %s failed", self.job.run_id, exc_info=True)

    def should_stop(self) -> bool:
        """True once the run was cancelled, handed to another execution, or the worker stops."""
        faults.reach("batch")
        if shutting_down.is_set():
            return True
        now = time.monotonic()
        if not self.lost and now - self._checked >= settings.stop_poll_interval:
            self._checked = now
            self.lost = not store.still_running(
                self.db, run_id=self.job.run_id, task_id=self.task_id
            )
        return self.lost

    def on_epoch(self, rows: list[dict[str, Any]]) -> None:
        """Rows and progress in one transaction (after core saved the checkpoint), then a beat."""
        faults.reach("before_record")
        if not store.record_epoch(self.db, job=self.job, task_id=self.task_id, rows=rows):
            self.lost = True
            return
        if rows:
            self.last = (rows[-1]["phase"], int(rows[-1]["epoch"]))
        store.beat(self.db, run_id=self.job.run_id, task_id=self.task_id)
        if settings.epoch_delay:
            time.sleep(settings.epoch_delay)


def _stopped(run_id: int, task_id: str) -> str:
    """After should_stop: on a worker shutdown, queue the run again for another worker."""
    if not shutting_down.is_set():
        return "stopped"  # cancelled, or handed to another execution
    dispatch = store.hand_back(get_database(settings.database_url), run_id=run_id, task_id=task_id)
    if dispatch is not None:
        publish_runs(app, settings, [dispatch])
    return "handed back"


def execute(run_id: int, *, task_id: str, worker: str) -> str:
    """Claim the run, train it through core.run_single, record how it ended; returns that."""
    db = get_database(settings.database_url)
    job = store.claim(
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
    _current_run.update(id=run_id)
    faults.arm(settings.fault_file)
    owner = Ownership(job, task_id)
    failure: str | None = None
    try:
        with owner:
            result = run_single(
                job.spec,
                job.arm,
                job.repeat,
                device=settings.device,
                data_root=settings.data_root,
                checkpoint_path=job.checkpoint,
                on_epoch=owner.on_epoch,
                should_stop=owner.should_stop,
            )
    except RunCancelled:
        return _stopped(run_id, task_id)
    except TRANSIENT:
        raise
    except Exception as error:  # TrainingError, DataError, CheckpointError, CUDA OOM, a bug
        log.exception("run %s failed", run_id)
        failure = describe(error, position(job.spec, job.arm, owner.last))
    finally:
        faults.disarm()
        _current_run.update(id=None)
    if failure is not None:
        release_memory()  # here, past the except: its traceback no longer holds the tensors
        store.finish(db, run_id=run_id, task_id=task_id, status="failed", error=failure)
        return "failed"
    store.finish(db, run_id=run_id, task_id=task_id, status="done", result=result)
    try:  # the run is done whatever happens here; the next finished run asks again
        store.stop_if_decided(db, experiment_id=job.experiment_id)
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
        with contextlib.suppress(*TRANSIENT):  # else the sweep re-queues it once it is stale
            store.release(
                get_database(settings.database_url), run_id=run_id, task_id=str(self.request.id)
            )
        raise self.retry(exc=error, countdown=min(60, 2**self.request.retries)) from None


_current_run: dict[str, int | None] = {"id": None}


class Housekeeper(threading.Thread):
    """Per worker process: beat the worker's row and run the heartbeat sweep periodically."""

    def __init__(self, name: str) -> None:
        super().__init__(daemon=True, name="housekeeper")
        self.worker_name, self.stopping = name, threading.Event()
        self.db = get_database(settings.database_url)

    def run(self) -> None:
        period = min(settings.sweep_interval, settings.heartbeat_interval)
        last_sweep = 0.0
        while not self.stopping.wait(period):
            try:
                store.beat_worker(self.db, name=self.worker_name, run_id=_current_run["id"])
                if time.monotonic() - last_sweep >= settings.sweep_interval:
                    last_sweep = time.monotonic()
                    sweep_once(self.db, app, settings)
            except Exception:
                log.warning("housekeeping failed; trying again", exc_info=True)


_housekeeper: list[Housekeeper] = []


@worker_ready.connect
def _on_ready(sender: Any = None, **_: Any) -> None:
    name = getattr(sender, "hostname", None) or socket.gethostname()
    db = get_database(settings.database_url)
    store.register_worker(
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
            store.unregister_worker(keeper.db, name=keeper.worker_name)
        except Exception:
            log.warning("could not unregister worker %s", keeper.worker_name, exc_info=True)
