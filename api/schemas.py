"""Response bodies of the REST API (requests are ExperimentSpec from core.spec)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

MAX_TAG = 64
MAX_TAGS = 32
MAX_NOTES = 20_000
Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_TAG, pattern=r"^[A-Za-z0-9_.:/+\-]+$"
    ),
]


class RunBrief(BaseModel):
    """A run as the submit response lists it."""

    model_config = ConfigDict(from_attributes=True)

    id: int | None = None
    arm: str
    repeat: int
    seed: int | None = None
    status: str


REQUEUE_NOTES = {
    "stalled": "stalled",
    "lost": "worker lost",
    "shutdown": "worker stopped",
    "transient": "infrastructure error",
    "handback": "handed back",
    "device": "GPU error, slot restarted",
}


class RunPublic(RunBrief):
    """Everything stored about a run."""

    experiment_id: int
    attempt: int = Field(description="retries asked for, plus one")
    requeues: int = Field(description="times InitLab put the run back (lost or stalled owner)")
    stalls: int = Field(description="of those, runs that beat but made no progress")
    requeue_reason: str | None = Field(
        description="lost | stalled | shutdown | transient | handback | device"
    )
    handbacks: int = Field(0, description="hand-backs in a row: checkpoint or data not readable")
    handback_cause: str | None = Field(None, description="why the run was last handed back")
    data_digest: str | None = Field(None, description="SHA-256 of the data the run read")
    fence: int = Field(description="executions that claimed the run (the owner's fence)")
    progress_at: datetime | None = Field(description="last batch or epoch advanced (DB clock)")
    enqueued: datetime | None
    started: datetime | None
    finished: datetime | None
    worker: str | None
    heartbeat: datetime | None
    last_phase: str | None
    last_epoch: int | None
    checkpoint: str | None = Field(description="key of the committed checkpoint (artifact root)")
    init_fingerprint: str | None
    error: str | None
    host: str | None
    device_name: str | None
    initlab_version: str | None
    git_commit: str | None
    python_version: str | None
    torch_version: str | None
    torchvision_version: str | None
    cuda_version: str | None
    wall_seconds: dict[str, float] | None
    precision: str | None = None
    deterministic: bool | None = None
    param_count: int | None = None
    excluded_reason: str | None = Field(None, description="why it is left out of the statistics")
    excluded_by: str | None = Field(None, description="who excluded it, as they gave it")
    excluded_at: datetime | None = Field(None, description="when it was excluded (DB clock)")
    tags: list[str] = Field(default_factory=list, description="curation: PATCH /runs/{id}")
    notes: str | None = Field(None, description="free text (not `note`, InitLab's re-queue note)")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def note(self) -> str | None:
        """'stalled, re-queued (attempt 2)' while a run InitLab put back waits or runs again."""
        reason = REQUEUE_NOTES.get(self.requeue_reason or "")
        if reason is None or self.status not in ("queued", "running"):
            return None
        if self.requeue_reason == "handback" and self.handback_cause:
            reason = f"{self.handback_cause}; {reason}"
        return f"{reason}, re-queued (attempt {self.fence + (self.status == 'queued')})"


class ExperimentBrief(BaseModel):
    """One experiment of a submission; `swept` holds a sweep point's values."""

    id: int | None
    name: str
    runs: int
    swept: dict[str, Any] = Field(default_factory=dict)


class SubmitResponse(BaseModel):
    """POST /experiments and /sweeps: the stored experiment(s) and runs (ids null on dry_run)."""

    id: int | None
    dry_run: bool = False
    sweep_id: str | None = None
    experiments: list[ExperimentBrief] = Field(default_factory=list)
    runs: list[RunBrief]
    warnings: list[str] = Field(
        default_factory=list,
        description="why the primary comparison can never decide (or stop early) as specified,"
        " naming the repeats that could; the submission is stored all the same",
    )


class RunningRun(BaseModel):
    run_id: int
    arm: str
    repeat: int
    phase: str | None
    epoch: int | None
    epochs_done: int
    epochs_total: int


class Progress(BaseModel):
    """How far an experiment is: run counts by status, and where the running runs are."""

    runs_total: int
    runs_done: int
    runs_failed: int
    runs_cancelled: int
    runs_running: int
    runs_queued: int
    fraction: float = Field(description="0..1, epochs of running runs counted")
    running: list[RunningRun] = Field(default_factory=list)


class ExperimentPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    status: str
    priority: int
    created: datetime
    sweep_id: str | None
    progress: Progress
    provenance: dict[str, Any] | None = Field(
        None, description="set for imported experiments: source, licence, sha256, caveats"
    )
    owner: str | None = Field(None, description="the user who submitted it (INITLAB_AUTH=accounts)")
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None
    archived_at: datetime | None = Field(None, description="set while archived (hidden from lists)")
    device: str = Field("any", description="execution.device: cuda | cpu | any")
    waiting: str | None = Field(
        None, description="'waiting for a cuda worker' while queued runs have no live worker"
    )


class Annotation(BaseModel):
    """PATCH of an experiment or a run: the tags and notes given replace the stored ones."""

    model_config = ConfigDict(extra="forbid")

    tags: list[Tag] | None = Field(
        None,
        max_length=MAX_TAGS,
        description="replaces the tags (trimmed, duplicates dropped); letters, digits and "
        "_ . : / + -",
    )
    notes: str | None = Field(None, max_length=MAX_NOTES, description="free text; '' clears it")


class ExperimentUpdate(Annotation):
    """PATCH /experiments/{id}: the fields given replace the stored ones; the spec never changes."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | (
        None
    ) = Field(None, description="a new display name")


class RunUpdate(Annotation):
    """PATCH /runs/{id}: a run's tags and notes (curation: no result or statistic changes)."""


class StoppedEarly(BaseModel):
    """stop_when_decided cancelled the queued runs: why, and what that saved (estimated)."""

    reason: str
    runs_saved: int
    mean_run_hours: float | None = Field(description="mean duration of the finished runs")
    hours_saved_estimate: float | None = Field(description="runs_saved × mean_run_hours")


class ExperimentDetail(ExperimentPublic):
    spec: dict[str, Any]
    stopped_early: StoppedEarly | None = None


class SweepExperiment(ExperimentPublic):
    """A sweep's experiment with the values of its sweep point."""

    swept: dict[str, Any]


class SweepDetail(BaseModel):
    """GET /sweeps/{id}: the group's status, overall progress and experiments."""

    id: str
    status: str
    fraction: float = Field(description="0..1 over all the sweep's runs")
    experiments: list[SweepExperiment]


class PresetBrief(BaseModel):
    """A named spec: GET /presets/{name} returns it whole."""

    name: str
    summary: str


class Page(BaseModel):
    """Every list route: `limit` items from `offset`, and how many match in all."""

    total: int
    limit: int
    offset: int


class ExperimentPage(Page):
    items: list[ExperimentPublic]


class RunPage(Page):
    items: list[RunPublic]


class PresetPage(Page):
    items: list[PresetBrief]


class SweepBrief(BaseModel):
    """A sweep in GET /sweeps: its status and run counts over all its experiments."""

    id: str
    status: str
    created: datetime = Field(description="when its first experiment was stored")
    experiments: int
    runs_total: int
    runs_done: int


class SweepPage(Page):
    items: list[SweepBrief]


class CancelResponse(BaseModel):
    id: int
    cancelled_runs: int
    status: str


class WorkerPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    host: str
    pid: int
    device: str
    started: datetime
    heartbeat: datetime
    run_id: int | None


class ServiceState(StrEnum):
    """Whether the database and the broker answer; one named enum, so a generated client has
    one type for both health answers (two inline enums would share the name HealthStatus)."""

    OK = "ok"
    DEGRADED = "degraded"


class HealthStatus(BaseModel):
    """GET /health without credentials: ok or not, nothing about the machines."""

    status: ServiceState


class Health(HealthStatus):
    """GET /health for a signed-in caller: the database, the broker and the live workers."""

    version: str
    database: dict[str, Any]
    broker: dict[str, Any]
    workers: list[WorkerPublic]
