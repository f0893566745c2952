"""The writes of one execution of a run, each fenced: accepted only while it owns the run.

An execution owns its run while the run is `running` under the execution's fence (the token
it got by claiming the run). Every write (metric rows, the committed checkpoint, heartbeat,
progress, the final status) re-reads the run under its row lock in the same transaction and
is refused once another execution took over, the run was re-queued, or it was cancelled.
Checkpoints are files per execution (key `<run id>.<fence>.pt`, relative to the artifact root,
store/artifacts.py): a stale writer only ever writes its own file, which no committed pointer
names any more.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from core.phase_order import phase_rank
from core.spec import ExperimentSpec, parse_spec
from store.artifacts import checkpoint_key
from store.clock import database_now, db_time
from store.db import Database
from store.models import Metric, Run
from store.runs import METRIC_FIELDS, Dispatch, lock_both, lock_run, new_task_id, sync_status
from store.states import transition

# pg_advisory_xact_lock(class, experiment): metric writes of one experiment commit in id order,
# so a reader's ?after= cursor never skips a row that commits late.
METRIC_LOCK_CLASS = 0x1A17
VALUE_FIELDS = (*METRIC_FIELDS[3:], "fence")  # all but the (phase, epoch, split) key


@dataclass(frozen=True)
class Job:
    """What a claimed run needs to train, and the fence every write of this execution carries."""

    run_id: int
    experiment_id: int
    fence: int
    spec: ExperimentSpec
    arm: str
    repeat: int
    checkpoint: Path  # this execution's own local file, written by training
    resume_from: str | None  # the key of the checkpoint an earlier execution committed
    last: tuple[str, int] | None = None  # (phase, epoch) last recorded before this execution
    handbacks: int = 0  # times the run went back for a checkpoint or data this host lacked
    data_digest: str | None = None  # of the data earlier executions read (worker/data_check)

    @property
    def key(self) -> str:
        """This execution's checkpoint key, relative to the artifact root."""
        return checkpoint_key(self.run_id, self.fence)

    @property
    def name(self) -> str:
        return f"run {self.run_id} attempt {self.fence}"


def checkpoint_path(artifact_dir: Path, run_id: int, fence: int) -> Path:
    """The local checkpoint file of one execution of a run."""
    return artifact_dir.resolve() / checkpoint_key(run_id, fence)


def _take(session: Session, run: Run, *, worker: str, env: dict[str, Any], now: Any) -> int:
    """Make `run` (locked, claimable) running under a new fence for `worker`; the fence."""
    fence = run.fence + 1
    transition(
        run, "running", fence=fence, worker=worker, heartbeat=now, progress_at=now, error=None
    )
    run.started = run.started or now
    for key, value in env.items():
        setattr(run, key, value)
    return fence


def _job(run: Run, experiment_id: int, spec: ExperimentSpec, fence: int, artifact_dir: Path) -> Job:
    last = None if run.last_phase is None else (run.last_phase, int(run.last_epoch or 0))
    return Job(
        run.id,
        experiment_id,
        fence,
        spec,
        run.arm,
        run.repeat,
        checkpoint_path(artifact_dir, run.id, fence),
        run.checkpoint or None,
        last,
        run.handbacks,
        run.data_digest,
    )


def _queued_mates(session: Session, run: Run, repeats: list[int]) -> list[Run]:
    """The queued runs of `run`'s arm among `repeats`, locked, in repeat order."""
    query = (
        select(Run)
        .where(
            Run.experiment_id == run.experiment_id,
            Run.arm == run.arm,
            Run.repeat.in_(repeats),
            Run.id != run.id,
            Run.status == "queued",
        )
        .order_by(Run.id)
        .with_for_update()
    )
    return list(session.scalars(query.execution_options(populate_existing=True)))


def claim(db: Database, **claimant: Any) -> Job | None:
    """Take the run for a new execution (raising its fence), or None when the message is not
    (or no longer) the run's live one, the run is finished, or a live worker holds it; the
    keywords are claim_group's, without `mates`."""
    jobs = claim_group(db, **claimant)
    return jobs[0] if jobs else None


def claim_group(
    db: Database,
    *,
    run_id: int,
    task_id: str,
    worker: str,
    env: dict[str, Any],
    artifact_dir: Path,
    heartbeat_timeout: float,
    mates: Callable[[ExperimentSpec, int], list[int]] | None = None,
) -> list[Job]:
    """`claim`, and with it the queued runs of the same arm whose repeats `mates(spec, repeat)`
    names, each under a fence of its own (their own messages then find them held); the jobs in
    repeat order, [] when the run itself cannot be claimed. One transaction under the
    experiment's lock: of two workers claiming runs of one group at once, the first takes
    every queued member."""
    with db.transaction() as session:
        locked = lock_both(session, run_id)
        if locked is None:
            return []
        experiment, run = locked
        now = database_now(session)
        held_elsewhere = (
            run.status == "running"
            and run.worker != worker
            and (
                run.heartbeat is not None
                and (now - run.heartbeat).total_seconds() < heartbeat_timeout
            )
        )
        if run.task_id != task_id or run.status not in ("queued", "running") or held_elsewhere:
            return []
        spec = parse_spec(experiment.spec)
        runs = [run]
        if mates is not None:
            runs += _queued_mates(session, run, mates(spec, run.repeat))
        jobs = []
        for member in runs:
            fence = _take(session, member, worker=worker, env=env, now=now)
            jobs.append(_job(member, experiment.id, spec, fence, artifact_dir))
        sync_status(session, experiment)
        return sorted(jobs, key=lambda job: job.repeat)


def _owned(session: Session, job: Job) -> Run | None:
    """The run under its lock if `job` still owns it, else None."""
    run = lock_run(session, job.run_id)
    if run is None or run.status != "running" or run.fence != job.fence:
        return None
    return run


def _clean(value: Any) -> Any:
    """NaN and infinities become NULL: JSON has no spelling for them."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _phase_key(phase: str | None, epoch: int | None) -> tuple[int, int, int]:
    if phase is None or epoch is None:
        return (-1, 0, 0)
    return (*phase_rank(phase), epoch)


def upsert_metrics(session: Session, *, job: Job, rows: list[dict[str, Any]]) -> None:
    """Insert rows; a row whose (run, phase, epoch, split) exists is overwritten in place."""
    dialect = session.get_bind().dialect.name
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    values = [
        {
            "run_id": job.run_id,
            "experiment_id": job.experiment_id,
            "fence": job.fence,
            **{f: _clean(row.get(f)) for f in METRIC_FIELDS},
        }
        for row in rows
    ]
    statement = insert(Metric).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["run_id", "phase", "epoch", "split"],
        set_={f: statement.excluded[f] for f in VALUE_FIELDS},
    )
    session.execute(statement)


def record_epoch(
    db: Database,
    *,
    job: Job,
    rows: list[dict[str, Any]],
    inside: Callable[[], None] | None = None,
) -> bool:
    """One epoch's rows, progress and this execution's checkpoint as the committed one, in
    one transaction; False (nothing written) when `job` no longer owns the run. `inside` runs
    in the transaction after the writes (fault injection in tests)."""
    if not rows:
        return True
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(:c, :e)"),
                {"c": METRIC_LOCK_CLASS, "e": job.experiment_id},
            )
        run = _owned(session, job)
        if run is None:
            return False
        phase, epoch = rows[-1]["phase"], int(rows[-1]["epoch"])
        # Rows replayed on resume must not move the progress backwards.
        if _phase_key(phase, epoch) > _phase_key(run.last_phase, run.last_epoch):
            run.last_phase, run.last_epoch = phase, epoch
            run.handbacks, run.handback_cause = 0, None  # the count is of hand-backs in a row
        run.checkpoint = job.key
        run.heartbeat = run.progress_at = database_now(session)
        upsert_metrics(session, job=job, rows=rows)
        if inside is not None:
            inside()
    return True


def beat(db: Database, *, job: Job, progressed: bool) -> bool:
    """Refresh the heartbeat (and the progress mark when batches advanced since the last
    beat); False when `job` no longer owns the run."""
    values: dict[str, Any] = {"heartbeat": db_time()}
    if progressed:
        values["progress_at"] = db_time()
    with db.transaction() as session:
        if _owned(session, job) is None:
            return False
        session.execute(update(Run).where(Run.id == job.run_id).values(**values))
    return True


def owns(db: Database, *, job: Job) -> bool:
    """Whether `job` still owns its run (the stop check between batches; no lock needed for a
    read that only decides to stop early)."""
    with db.session() as session:
        row = session.execute(select(Run.status, Run.fence).where(Run.id == job.run_id)).first()
    return row is not None and row.status == "running" and row.fence == job.fence


def committed_checkpoint(db: Database, run_id: int) -> str | None:
    """The key of the checkpoint the run's owners committed last (None: none yet)."""
    with db.session() as session:
        return session.scalar(select(Run.checkpoint).where(Run.id == run_id))


def finish(
    db: Database, *, job: Job, status: str, error: str | None = None, result: Any = None
) -> bool:
    """Record the end of an owned run: done with its result, or failed with its error."""
    with db.transaction() as session:
        locked = lock_both(session, job.run_id)
        if locked is None or locked[1].status != "running" or locked[1].fence != job.fence:
            return False
        experiment, run = locked
        transition(run, status, finished=database_now(session), error=error)
        if result is not None:
            run.seed, run.init_fingerprint = result.seed, result.init_fingerprint
            run.wall_seconds = {k: float(v) for k, v in result.wall_seconds.items()}
            run.precision, run.deterministic = result.precision, result.deterministic
            run.param_count = result.param_count
        sync_status(session, experiment)
        return True


def hand_back(db: Database, *, job: Job, reason: str, new_message: bool = True) -> Dispatch | None:
    """Queue an owned run again (worker shutting down, or a transient error before a retry of
    the same message when `new_message` is False); None when `job` no longer owns it."""
    with db.transaction() as session:
        locked = lock_both(session, job.run_id)
        if locked is None or locked[1].status != "running" or locked[1].fence != job.fence:
            return None
        experiment, run = locked
        task_id = new_task_id() if new_message else run.task_id
        transition(
            run,
            "queued",
            worker=None,
            task_id=task_id,
            enqueued=database_now(session),
            requeue_reason=reason,
        )
        sync_status(session, experiment)
        return Dispatch(run.id, str(task_id), experiment.priority, experiment.device)


def give_back(db: Database, *, job: Job, cause: str, limit: int, counted: bool = True) -> str:
    """Hand the run back because this host cannot go on with it (a checkpoint or data it
    cannot read: another host may); at the `limit`-th hand-back in a row, fail it with
    `cause` instead. Returns 'queued', 'failed', or 'lost' when `job` no longer owns it.
    Never starts the run over: only a fresh retry forgets its checkpoint."""
    with db.transaction() as session:
        locked = lock_both(session, job.run_id)
        if locked is None or locked[1].status != "running" or locked[1].fence != job.fence:
            return "lost"
        experiment, run = locked
        count = run.handbacks + int(counted)
        now = database_now(session)
        if count >= limit:
            error = f"{cause} (handed back {count} times, INITLAB_HANDBACK_LIMIT={limit})"
            transition(run, "failed", finished=now, error=error, handbacks=count)
        else:
            transition(
                run,
                "queued",
                worker=None,
                task_id=new_task_id(),
                enqueued=now,
                requeue_reason="handback",
                handbacks=count,
                handback_cause=cause[:4000],
            )
        sync_status(session, experiment)
        return str(run.status)


def dispatch_of(db: Database, run_id: int) -> Dispatch | None:
    """The message to publish for a queued run (after give_back)."""
    with db.session() as session:
        run = session.get(Run, run_id)
        if run is None or run.status != "queued" or run.task_id is None:
            return None
        return Dispatch(run.id, run.task_id, run.experiment.priority, run.experiment.device)


def record_digest(db: Database, *, job: Job, digest: str) -> bool:
    """Keep the digest of the data the run read, the first time; False when `job` no longer
    owns the run."""
    with db.transaction() as session:
        run = _owned(session, job)
        if run is None:
            return False
        run.data_digest = run.data_digest or digest
    return True
