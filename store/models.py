"""ORM tables: experiment, run, metric, worker, lease, user, api_token, idempotency key (SQLite
and PostgreSQL alike)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

RunStatus = Literal["queued", "running", "done", "failed", "cancelled"]
ExperimentStatus = RunStatus  # derived from its runs' (store.runs.derive_status)

JsonType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only guarantees never-reused, increasing ids with INTEGER PRIMARY KEY AUTOINCREMENT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns timezone-aware UTC (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Experiment(Base):
    """One submitted spec; its status is derived from its runs' (see store.runs.sync_status)."""

    __tablename__ = "experiment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonType)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sweep_id: Mapped[str | None] = mapped_column(String(36), index=True)
    # Set only for imported experiments (runs made elsewhere): source, licence, caveats, ...
    provenance: Mapped[dict[str, Any] | None] = mapped_column(JsonType)
    # SHA-256 of what was imported: the same file or document imports once.
    source_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The user who submitted it (store/accounts.py); None under a shared token or no auth.
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    # What users edit afterwards (PATCH /experiments/{id}); the spec stays as submitted.
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list, server_default=text("'[]'"))
    notes: Mapped[str | None] = mapped_column(Text)
    # Archived experiments are hidden from lists, never deleted; restoring clears this.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # execution.device of the spec (cuda | cpu | any): the queue its runs go through.
    device: Mapped[str] = mapped_column(String(8), default="any", server_default="any")

    runs: Mapped[list[Run]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan", order_by="Run.id"
    )


class Run(Base):
    """One (arm, repeat) of an experiment: a single training run and where it stands."""

    __tablename__ = "run"
    __table_args__ = (
        UniqueConstraint("experiment_id", "arm", "repeat"),
        Index("ix_run_status_heartbeat", "status", "heartbeat"),
        # The lost-message check pages through queued runs in id order.
        Index("ix_run_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiment.id", ondelete="CASCADE"), index=True
    )
    arm: Mapped[str] = mapped_column(String(64))
    repeat: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # retries asked for, plus one
    requeues: Mapped[int] = mapped_column(Integer, default=0)  # lost worker or no progress
    stalls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # no progress
    # Why the run was last put back in the queue by InitLab itself: lost | stalled | shutdown.
    requeue_reason: Mapped[str | None] = mapped_column(String(16))
    # The fencing token: raised by each execution that claims the run. An execution owns the
    # run while the run is running under its token; every write it makes checks that under
    # the run row's lock (store/executions.py).
    fence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The Celery task id of the one live message; only that message may claim the run.
    task_id: Mapped[str | None] = mapped_column(String(64))
    enqueued: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime)  # database clock
    # When the owner last advanced a batch or an epoch (database clock); a hung data read
    # beats but makes no progress.
    progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_phase: Mapped[str | None] = mapped_column(String(32))
    last_epoch: Mapped[int | None] = mapped_column(Integer)
    # The key (relative to the artifact root) of the last checkpoint an owner committed with
    # its rows (<run id>.<fence>.pt); a resume starts from it, a fresh retry clears it.
    checkpoint: Mapped[str | None] = mapped_column(String(1024))
    # Hand-backs in a row without progress because a host could not read what the run needs
    # (its committed checkpoint, its data); at INITLAB_HANDBACK_LIMIT the run fails with why.
    handbacks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    handback_cause: Mapped[str | None] = mapped_column(Text)
    # SHA-256 over the files of the data set the run read (store/data_digest.py): a resume
    # on other data fails naming both.
    data_digest: Mapped[str | None] = mapped_column(String(64))
    init_fingerprint: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    device_name: Mapped[str | None] = mapped_column(String(255))
    initlab_version: Mapped[str | None] = mapped_column(String(64))
    git_commit: Mapped[str | None] = mapped_column(String(64))
    python_version: Mapped[str | None] = mapped_column(String(64))
    torch_version: Mapped[str | None] = mapped_column(String(64))
    torchvision_version: Mapped[str | None] = mapped_column(String(64))
    cuda_version: Mapped[str | None] = mapped_column(String(64))
    wall_seconds: Mapped[dict[str, float] | None] = mapped_column(JsonType)
    precision: Mapped[str | None] = mapped_column(String(8))  # training.precision as run
    deterministic: Mapped[bool | None] = mapped_column(Boolean)
    param_count: Mapped[int | None] = mapped_column(BigInteger)  # trainable parameters
    # Set while a researcher leaves the run out of the statistics (e.g. a broken node):
    # why (required), who said so (optional) and when (database clock).
    excluded_reason: Mapped[str | None] = mapped_column(Text)
    excluded_by: Mapped[str | None] = mapped_column(String(255))
    excluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What users write on the run (PATCH /runs/{id}): curation, never part of the results.
    tags: Mapped[list[str]] = mapped_column(JsonType, default=list, server_default=text("'[]'"))
    notes: Mapped[str | None] = mapped_column(Text)

    experiment: Mapped[Experiment] = relationship(back_populates="runs")


class Metric(Base):
    """One split's figures for one epoch of one phase; a replayed epoch overwrites its row."""

    __tablename__ = "metric"
    __table_args__ = (
        UniqueConstraint("run_id", "phase", "epoch", "split"),
        Index("ix_metric_experiment_id_id", "experiment_id", "id"),
        # /curves and /summary read one experiment's rows of one phase (and split).
        Index("ix_metric_experiment_id_phase_split", "experiment_id", "phase", "split"),
        {"sqlite_autoincrement": True},
    )

    # Monotonically increasing: the ?after= cursor of GET /experiments/{id}/metrics.
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiment.id", ondelete="CASCADE"))
    phase: Mapped[str] = mapped_column(String(32))
    epoch: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(16))
    loss: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)
    lr: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float | None] = mapped_column(Float)
    examples: Mapped[int | None] = mapped_column(BigInteger)
    # Examples trained on and training seconds of the run so far, all phases included.
    examples_total: Mapped[int | None] = mapped_column(BigInteger)
    seconds_total: Mapped[float | None] = mapped_column(Float)
    fence: Mapped[int | None] = mapped_column(Integer)  # the execution that wrote the row


class Worker(Base):
    """A live worker slot, beating while it runs; GET /health lists the fresh ones."""

    __tablename__ = "worker"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(255))
    started: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    run_id: Mapped[int | None] = mapped_column(Integer)


class Lease(Base):
    """A named lease one worker holds at a time (the lost-message check), on the DB clock."""

    __tablename__ = "lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(255))
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A person who signs in; `disabled` ends every session and token without deleting."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A bearer token of one user: personal (made by the user) or a login session."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(12), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    def is_live(self, now: datetime) -> bool:
        """Not revoked, not expired, and its user not disabled."""
        expired = self.expires is not None and self.expires <= now
        return self.revoked is None and not expired and not self.user.disabled
class IdempotencyKey(Base):
    """An Idempotency-Key of a POST and its first answer: a retry with the key replays it."""

    __tablename__ = "idempotency_key"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # SHA-256 of what the key was first sent with (method, path, query, content type, body).
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JsonType)
    location: Mapped[str | None] = mapped_column(String(300))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Search(Base):
    """A calibration search (issue 27): its spec, its baseline and confirmation experiments."""

    __tablename__ = "search"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # running (trials) -> confirming -> done; or cancelled / failed.
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    owner: Mapped[str | None] = mapped_column(String(64), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The baseline arm's runs, trained once and shared by every trial of each repeat.
    baseline_experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiment.id", ondelete="SET NULL")
    )
    confirm_experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiment.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)  # why it ended other than done

    trials: Mapped[list[SearchTrial]] = relationship(
        back_populates="search", cascade="all, delete-orphan", order_by="SearchTrial.number"
    )


class SearchTrial(Base):
    """One schedule the sampler asked for: its parameters, state, values and runs."""

    __tablename__ = "search_trial"
    __table_args__ = (UniqueConstraint("search_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("search.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JsonType)
    # running | complete | pruned | over_budget | failed (core.search.study.StoredTrial)
    state: Mapped[str] = mapped_column(String(16))
    value: Mapped[float | None] = mapped_column(Float)
    # Main epoch (as a string key) -> mean paired difference so far.
    intermediate: Mapped[dict[str, float]] = mapped_column(JsonType, default=dict)
    # Optuna's own per-trial records (grid point, pruner rungs), to rebuild the study.
    system_attrs: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiment.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)  # why pruned, over budget or failed
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished: Mapped[datetime | None] = mapped_column(UTCDateTime)

    search: Mapped[Search] = relationship(back_populates="trials")
