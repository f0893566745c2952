"""Repeats trained as one stacked group in one task (worker/group_task.py).

First the claim, on both databases: one message takes the queued runs of its group, and the
other members' messages then find them held. Then a worker killed mid-group: the group is one
task, one message claims both runs. SIGKILL fires at a random training batch
of the stacked model; recovery re-queues both runs, the surviving worker claims them again as
one group, and each resumes from its own checkpoint. Every run ends done, its rows are stored
once each, and they equal an uninterrupted group's bit for bit (both members resume from the
same epoch, so they train stacked again exactly as before).
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from core.spec import parse_spec
from core.training.lockstep import Lockstep
from store import executions, runs
from store.config import Settings
from store.db import Database
from store.executions import Job
from store.models import Run
from tests.reliability.conftest import EPOCH_DELAY
from tests.reliability.helpers import (
    RNG,
    SEED,
    FaultFile,
    assert_nothing_lost,
    fault_spec,
    top_up_workers,
    wait_dead_worker,
    worker_logs,
)
from tests.service.servers import Api, Service
from tests.service.test_store import db  # noqa: F401  (fixture: each dialect)
from worker.group_task import member_hooks, repeat_group
from worker.ownership import Ownership

# Per member: 4 batches in each of the 2 stage epochs, 7 in each of the 2 main epochs; the
# stacked model trains both members in one batch. Drawn from after the first checkpoint to the
# last epoch, so that the kill leaves a resume.
BATCHES = (5, 20)


def group_spec(name: str) -> dict[str, Any]:
    return fault_spec(name, epochs=2, repeats=2) | {"execution": {"batch_repeats": 2}}


def _claim(database: Database, run_id: int, task_id: str, worker: str, tmp: Path) -> list[int]:
    jobs = executions.claim_group(
        database,
        run_id=run_id,
        task_id=task_id,
        worker=worker,
        env={"host": "h"},
        artifact_dir=tmp,
        heartbeat_timeout=60,
        mates=repeat_group,
    )
    assert len({job.checkpoint for job in jobs}) == len(jobs), "a checkpoint file each"
    return [job.repeat for job in jobs]


def test_one_message_claims_the_queued_members_of_its_group(
    db: Database,  # noqa: F811
    tmp_path: Path,
) -> None:
    spec = parse_spec(group_spec("claim") | {"repeats": 3})
    with db.transaction() as session:
        _, dispatches = runs.create_experiment(session, spec=spec, priority=5)
    ids, tasks = [d.run_id for d in dispatches], [d.task_id for d in dispatches]
    # Groups of 2 over 3 repeats: [0, 1] and [2]. Repeat 1's message comes first.
    assert _claim(db, ids[1], tasks[1], "a@h", tmp_path) == [0, 1]
    assert _claim(db, ids[0], tasks[0], "b@h", tmp_path) == []  # held by a@h: skipped
    assert _claim(db, ids[2], tasks[2], "b@h", tmp_path) == [2]  # a group of its own
    with db.session() as session:
        stored = {
            r.repeat: (r.status, r.worker, r.fence)
            for r in session.scalars(select(Run).where(Run.id.in_(ids)))
        }
    assert stored == {0: ("running", "a@h", 1), 1: ("running", "a@h", 1), 2: ("running", "b@h", 1)}


def test_a_stacked_batch_is_progress_for_every_member(tmp_path: Path) -> None:
    """The lockstep driver asks members to stop only until the first goes on; a member it did
    not ask still advanced, and must not look stalled to recovery."""
    spec = parse_spec(group_spec("progress"))
    settings = Settings(stop_poll_interval=1e12)  # no ownership check: no database needed
    owners = [
        Ownership(
            None,  # type: ignore[arg-type]
            settings,
            Job(r, 1, 1, spec, "smart", r, tmp_path / f"{r}.pt", None),
            threading.Event(),
        )
        for r in (0, 1)
    ]
    members = [SimpleNamespace(hooks=hooks) for hooks in member_hooks(owners)]
    stop = Lockstep.stop_all(SimpleNamespace(members=members))  # type: ignore[arg-type]
    assert stop is not None
    for _ in range(5):
        assert not stop()
    assert [owner.batches >= 5 for owner in owners] == [True, True]


@pytest.mark.slow  # live servers and workers
def test_a_group_killed_mid_batch_resumes_as_a_group_and_loses_nothing(
    pg_service: Service, pg_faults: FaultFile
) -> None:
    at = RNG.randint(*BATCHES)
    print(f"SIGKILL at stacked batch {at} (INITLAB_FAULT_SEED={SEED})")
    spec = group_spec(f"group-kill-{at}")
    api = Api(pg_service.url)
    pg_faults.set("batch", at)
    created = api.submit(spec)
    wait_dead_worker(pg_service)
    assert not pg_faults.path.exists(), "the fault fired once"
    try:  # the survivor alone resumes, so that no other worker takes one member by itself
        api.wait_status(created["id"], timeout=90)
    finally:
        top_up_workers(pg_service, 2, EPOCH_DELAY)
    runs = api.runs(created["id"])
    assert [(r["repeat"], r["status"]) for r in runs] == [(0, "done"), (1, "done")]
    assert all(r["requeues"] >= 1 for r in runs), "recovery re-queued both members"
    assert_nothing_lost(api, created["id"], spec)  # against an uninterrupted group, exactly
    names = [f"run {r['id']} attempt" for r in runs]
    started = [line for line in worker_logs(pg_service).splitlines() if "in a group of 2" in line]
    for name in names:  # trained as a group before the kill and after it
        assert sum(name in line for line in started) >= 2, started
