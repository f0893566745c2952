# ruff: noqa: F811  (the db and settings fixtures are test_store's, imported by name)
"""Fencing, liveness and the state machine in the store itself, on SQLite and PostgreSQL.

Every write of an execution (rows, checkpoint pointer, heartbeat, progress, final status,
hand-back) is refused once another execution raised the fence, the run was re-queued, or it
was cancelled; every status change outside store.states.TRANSITIONS is refused.
"""

from __future__ import annotations

import itertools
import threading

import pytest
from sqlalchemy import select, update

from core.training.checkpoint import save_checkpoint
from store import executions, liveness, runs
from store.artifacts import Artifacts
from store.clock import database_now, db_time
from store.config import Settings
from store.db import Database
from store.executions import Job
from store.models import Lease, Metric, Run
from store.states import STATUSES, TRANSITIONS, IllegalTransition, check, transition
from tests.service.test_store import _claim, _run, _submit, db, settings  # noqa: F401
from worker.ownership import Ownership

ROW = {"phase": "main", "epoch": 1, "split": "val", "loss": 1.0, "accuracy": 0.5}


def _requeue(db: Database, run_id: int) -> None:
    """What recovery does to a run whose worker was lost: back to the queue, new message."""
    with db.transaction() as session:
        session.execute(update(Run).where(Run.id == run_id).values(heartbeat=db_time(-3600)))
    assert [d.run_id for d in liveness.requeue_lost(db, heartbeat_timeout=5)] == [run_id]


def _refused_everywhere(db: Database, job: Job) -> None:
    assert not executions.record_epoch(db, job=job, rows=[ROW])
    assert not executions.beat(db, job=job, progressed=True)
    assert not executions.owns(db, job=job)
    assert not executions.finish(db, job=job, status="done")
    assert executions.hand_back(db, job=job, reason="shutdown") is None


@pytest.mark.parametrize(("source", "target"), list(itertools.product(STATUSES, STATUSES)))
def test_only_the_table_s_transitions_are_allowed(source: str, target: str) -> None:
    run = Run(id=1, status=source)
    if (source, target) in TRANSITIONS:
        transition(run, target)
        assert run.status == target
    else:
        with pytest.raises(IllegalTransition, match=f"run 1: status '{source}' cannot become"):
            transition(run, target)
        assert run.status == source
        with pytest.raises(IllegalTransition):
            check(1, source, target)


def test_a_finished_run_cannot_be_finished_again(db: Database, settings: Settings) -> None:
    [run_id] = _submit(db)
    job = _claim(db, run_id, settings)
    assert executions.finish(db, job=job, status="done")
    assert not executions.finish(db, job=job, status="failed")  # done is final
    with db.transaction() as session, pytest.raises(runs.Conflict, match="only failed or"):
        runs.retry_run(session, run_id=run_id, fresh=False)
    assert _run(db, run_id).status == "done"


def test_a_stale_execution_can_write_nothing(db: Database, settings: Settings) -> None:
    [run_id] = _submit(db)
    first = _claim(db, run_id, settings, worker="a@h")
    assert executions.record_epoch(db, job=first, rows=[ROW])
    _requeue(db, run_id)
    _refused_everywhere(db, first)  # re-queued: not running any more
    second = _claim(db, run_id, settings, worker="b@h")
    # Keys relative to the artifact root (issue 24), never a host's absolute path.
    assert (second.fence, second.resume_from) == (first.fence + 1, f"{run_id}.{first.fence}.pt")
    assert second.checkpoint.name == second.key == f"{run_id}.{second.fence}.pt"
    _refused_everywhere(db, first)  # taken over: another fence
    assert executions.record_epoch(db, job=second, rows=[{**ROW, "loss": 0.5}])
    with db.session() as session:
        rows = session.execute(select(Metric.fence, Metric.loss).where(Metric.run_id == run_id))
        assert rows.all() == [(second.fence, 0.5)]
    assert _run(db, run_id).checkpoint == second.key
    assert executions.finish(db, job=second, status="done")


def test_fresh_retry_forgets_the_checkpoint_and_fences_the_old_execution(
    db: Database, settings: Settings
) -> None:
    [run_id] = _submit(db)
    old = _claim(db, run_id, settings)
    assert executions.record_epoch(db, job=old, rows=[ROW])
    with db.transaction() as session:
        experiment_id = _run(db, run_id).experiment_id
        experiment = runs.lock_experiment(session, experiment_id)
        assert experiment is not None and runs.cancel_experiment(session, experiment=experiment)
    with db.transaction() as session:
        runs.retry_run(session, run_id=run_id, fresh=True)
    run = _run(db, run_id)
    assert (run.status, run.attempt, run.checkpoint, run.last_epoch) == ("queued", 2, None, None)
    # The old execution goes on: its late epoch can bring back neither rows nor checkpoint.
    _refused_everywhere(db, old)
    assert _run(db, run_id).checkpoint is None
    new = _claim(db, run_id, settings)
    assert new.resume_from is None and new.last is None


def test_stalled_runs_are_requeued_and_their_owner_fenced(db: Database, settings: Settings) -> None:
    beating, stuck = _submit(db, repeats=2)
    alive, hung = _claim(db, beating, settings), _claim(db, stuck, settings)
    with db.transaction() as session:
        session.execute(update(Run).where(Run.id == stuck).values(progress_at=db_time(-100)))
    assert executions.beat(db, job=hung, progressed=False)  # beating proves no progress
    assert executions.beat(db, job=alive, progressed=True)
    assert [d.run_id for d in liveness.requeue_stalled(db, stall_timeout=50)] == [stuck]
    run = _run(db, stuck)
    assert (run.status, run.stalls, run.requeues, run.requeue_reason) == (
        "queued",
        1,
        1,
        "stalled",
    )
    _refused_everywhere(db, hung)
    assert executions.owns(db, job=alive)


def test_heartbeats_and_cutoffs_use_the_database_clock(db: Database, settings: Settings) -> None:
    [run_id] = _submit(db)
    job = _claim(db, run_id, settings)
    assert executions.beat(db, job=job, progressed=True)
    with db.session() as session:
        now = database_now(session)
    run = _run(db, run_id)
    assert run.heartbeat is not None and run.progress_at is not None
    assert abs((now - run.heartbeat).total_seconds()) < 5
    assert liveness.requeue_lost(db, heartbeat_timeout=5) == []


def test_one_holder_of_the_recovery_lease_at_a_time(db: Database) -> None:
    name = "test-lease"
    assert liveness.take_lease(db, name=name, holder="a", seconds=30)
    assert not liveness.take_lease(db, name=name, holder="b", seconds=30)
    assert liveness.take_lease(db, name=name, holder="a", seconds=30)  # renewal
    with db.transaction() as session:
        session.execute(update(Lease).where(Lease.name == name).values(expires=db_time(-1)))
    assert liveness.take_lease(db, name=name, holder="b", seconds=30)
    assert not liveness.take_lease(db, name=name, holder="a", seconds=30)
    liveness.release_lease(db, name=name, holder="b")
    assert liveness.take_lease(db, name=name, holder="a", seconds=30)


def test_api_and_experiment_page_say_stalled_requeued_with_the_attempt(
    db: Database, settings: Settings
) -> None:
    from api.schemas import RunPublic
    from dashboard.tables import runs_frame

    [run_id] = _submit(db)
    _claim(db, run_id, settings)
    with db.transaction() as session:
        session.execute(update(Run).where(Run.id == run_id).values(progress_at=db_time(-100)))
    liveness.requeue_stalled(db, stall_timeout=50)
    queued = RunPublic.model_validate(_run(db, run_id))
    assert queued.note == "stalled, re-queued (attempt 2)"
    job = _claim(db, run_id, settings)
    running = RunPublic.model_validate(_run(db, run_id)).model_dump(mode="json")
    assert running["note"] == "stalled, re-queued (attempt 2)"
    assert runs_frame([running])["Note"].tolist() == ["stalled, re-queued (attempt 2)"]
    executions.finish(db, job=job, status="done")
    assert RunPublic.model_validate(_run(db, run_id)).note is None


def test_a_live_owner_of_one_hostname_is_not_taken_over_by_its_clone(
    db: Database, settings: Settings
) -> None:
    """Issue 24: node names carry a suffix per start (worker.launch.node_name), so a second
    worker on a cloned host of the same hostname is another owner to the live-owner check:
    a redelivered message does not take over a run its clone holds and beats."""
    from worker.launch import Slot, node_name

    slot, clone = Slot("cpu-0"), Settings(host_name="clone")
    first, second = node_name(slot, clone), node_name(slot, clone)
    assert first != second and first.startswith("cpu-0@clone-")
    [run_id] = _submit(db)
    held = _claim(db, run_id, settings, worker=first)
    task_id = str(_run(db, run_id).task_id)
    taken = executions.claim(
        db, run_id=run_id, task_id=task_id, worker=second, env={"host": "clone"},
        artifact_dir=settings.artifact_dir, heartbeat_timeout=60,
    )
    assert taken is None and _run(db, run_id).fence == held.fence  # the clone was refused
    same = executions.claim(  # the same node (its own redelivery) may take it back
        db, run_id=run_id, task_id=task_id, worker=first, env={"host": "clone"},
        artifact_dir=settings.artifact_dir, heartbeat_timeout=60,
    )
    assert same is not None and same.fence == held.fence + 1


def test_a_stale_execution_removes_its_late_checkpoint_but_never_the_committed_one(
    db: Database, settings: Settings
) -> None:
    """The old execution may write an epoch's file after the new owner dropped the older
    ones (its record is then refused); once it stops, that file goes. A file the run still
    resumes from (the committed key) stays."""
    artifacts = Artifacts(str(settings.artifact_dir), settings.artifact_dir / "scratch")
    [run_id] = _submit(db)
    first = _claim(db, run_id, settings, worker="a@h")
    assert executions.record_epoch(db, job=first, rows=[ROW])  # commits first's key
    _requeue(db, run_id)
    second = _claim(db, run_id, settings, worker="b@h")
    save_checkpoint({"model": {}}, first.checkpoint)  # first's epoch 2, written late
    stale = Ownership(db, settings, first, threading.Event(), artifacts)
    stale.discard_uncommitted()
    assert first.checkpoint.exists(), "the committed checkpoint is what a retry resumes from"
    assert executions.record_epoch(db, job=second, rows=[{**ROW, "epoch": 2}])
    save_checkpoint({"model": {}}, first.checkpoint)  # and once more, after second committed
    stale.discard_uncommitted()
    assert not first.checkpoint.exists()
    Ownership(db, settings, second, threading.Event(), artifacts).discard_uncommitted()
    assert not second.checkpoint.exists() or _run(db, run_id).checkpoint == second.key
