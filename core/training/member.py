"""One run's own state while it trains, alone or as a member of a lockstep group.

A run owns its initial weights, history, wall times, totals, stage samples, checkpoint and
fate; the lockstep driver (core/training/lockstep.py) owns the network and optimiser it trains with
and
hands each run its slice of them when the run checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.data.base import Dataset
from core.methods import plan_for
from core.models import param_count
from core.spec import ArmSpec, ExperimentSpec
from core.training.checkpoint import load_checkpoint
from core.training.init_schemes import apply_init
from core.training.phases import Phase, generator_for, initial_model, phases_for, state_fingerprint

MetricRow = dict[str, Any]


class RunCancelled(Exception):
    """The run was asked to stop; its last checkpoint and metrics stay valid."""


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, missing data); the message names phase and epoch."""


@dataclass
class RunResult:
    """What a finished run reports; `metrics` holds one row per phase, epoch and split.

    `status` is done, failed or cancelled; `error` says why a run failed.
    """

    arm: str
    repeat: int
    seed: int
    init_fingerprint: str
    status: str
    wall_seconds: dict[str, float]
    metrics: list[MetricRow] = field(default_factory=list)
    precision: str = "fp32"
    deterministic: bool = False
    error: str | None = None
    param_count: int = 0  # trainable parameters of the run's model

    def to_json(self) -> dict[str, Any]:
        record = self.__dict__.copy()
        if record["error"] is None:
            del record["error"]
        return record


@dataclass
class RunHooks:
    """One run of a group and how it talks to its caller: checkpoint file and callbacks.

    `on_epoch` receives each finished epoch's rows once a checkpoint holding them is saved,
    from the checkpoint writer's thread, in epoch order, all before training returns (and, on
    resume, the rows already in the checkpoint first: the receiver must upsert);
    `should_stop` is asked at batch boundaries.
    """

    repeat: int
    checkpoint_path: Path | None = None
    on_epoch: Callable[[list[MetricRow]], None] | None = None
    should_stop: Callable[[], bool] | None = None
    on_progress: Callable[[str, int, int], None] | None = None


@dataclass(frozen=True)
class Position:
    """Where a run goes on: phase index, first epoch, whether that phase is under way, and the
    optimiser and schedule state the checkpoint carried (None for a fresh run)."""

    phase_index: int
    epoch: int
    in_progress: bool
    saved_phase: int | None = None
    optimizer: dict[str, Any] | None = None
    scheduler: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[int, int, bool, int | None]:
        """Runs with equal keys can train in lockstep."""
        return self.phase_index, self.epoch, self.in_progress, self.saved_phase


def arm_initial_model(
    spec: ExperimentSpec, arm: ArmSpec, repeat: int, data: Dataset, purpose: str
) -> torch.nn.Module:
    """Repeat `repeat`'s network for `purpose` with `arm`'s init scheme applied.

    The scheme's own draws (LSUV's batch) come from (seed, purpose, repeat): the same for every
    arm, so arms with the same scheme start bit-identical.
    """
    model = initial_model(spec, repeat, data.num_classes, purpose)
    generator = generator_for(spec.seed, f"{purpose}-scheme", repeat)
    apply_init(model, arm.init, data, spec.dataset.normalize, generator)
    return model


def first_epoch(phase: Phase) -> int:
    """Stages start at epoch 0, measured before any training (Fig. 3); the others at 1."""
    return 0 if phase.is_stage else 1


class Member:
    """The state of one run while it trains."""

    def __init__(
        self,
        spec: ExperimentSpec,
        arm: ArmSpec,
        hooks: RunHooks,
        data: Dataset,
        device: torch.device,
    ) -> None:
        self.spec, self.arm, self.hooks = spec, arm, hooks
        self.repeat = hooks.repeat
        self.plan = plan_for(arm)
        self.phases = phases_for(spec, self.plan)
        self.model = arm_initial_model(spec, arm, self.repeat, data, "init")
        self.fingerprint = state_fingerprint(self.model)
        self.model.to(device).to(memory_format=torch.channels_last)
        self.history: list[MetricRow] = []
        self.wall: dict[str, float] = {"preprocess": 0.0}
        # Examples trained on and training seconds so far, every phase included.
        self.examples_total, self.seconds_total = 0, 0.0
        self.sample_index: dict[str, torch.Tensor] = {}
        # Rows of the epochs trained since the last checkpoint (execution.checkpoint_every):
        # delivered once a checkpoint holds them, so a commit never runs ahead of the file.
        self.unsaved: list[list[MetricRow]] = []
        self.rng = torch.get_rng_state()
        # `execution` changes speed, never results: a run may resume alone or in another group.
        self.identity = {"spec": spec.identity_json(), "arm": arm.name, "repeat": self.repeat}
        self.status: str = "running"
        self.error: str | None = None

    def start(self) -> Position:
        """Where to begin: the checkpoint's next epoch, or the first phase's first epoch."""
        path = self.hooks.checkpoint_path
        if path is None or not path.exists():
            return Position(0, first_epoch(self.phases[0]), False)
        position = self.restore(load_checkpoint(path))
        if self.hooks.on_epoch is not None:
            for rows in _group_by_epoch(self.history):
                self.hooks.on_epoch(rows)
        return position

    def restore(self, state: dict[str, Any]) -> Position:
        """Load a checkpoint's weights and records; the optimiser state travels in Position."""
        if state.get("identity") != self.identity:
            raise TrainingError("checkpoint belongs to another run or spec; refusing to resume")
        self.model.load_state_dict(state["model"])
        self.history, self.wall = list(state["history"]), dict(state["wall_seconds"])
        self.examples_total = int(state["examples_total"])
        self.seconds_total = float(state["seconds_total"])
        self.rng = state["rng"]
        index, epoch = int(state["phase_index"]), int(state["epoch"]) + 1
        saved = (index, state["optimizer"], state["scheduler"])
        if epoch > self.phases[index].epochs:
            # The checkpoint ends a phase; after the main phase there is nothing left to train.
            following = self.phases[index + 1 : index + 2]
            start = first_epoch(following[0]) if following else 0
            return Position(index + 1, start, False, *saved)
        return Position(index, epoch, True, *saved)

    def splits_of(self, phase: Phase) -> list[str]:
        """Stages measure `stage_splits`; preprocess the same, its sample being the whole train
        set; main measures train, val and test."""
        if phase.is_stage:
            return list(self.spec.stage_splits)
        if phase.name == "preprocess":
            splits = ["train" if s == "sample" else s for s in self.spec.stage_splits]
            return list(dict.fromkeys(splits))
        return ["train", "val", "test"]

    def record(
        self, phase: Phase, rows: list[MetricRow], lr: float, seconds: float, examples: int
    ) -> None:
        """Account the epoch's training, complete its rows and add them to the history."""
        self.examples_total += examples
        self.seconds_total += seconds
        self.wall[phase.name] = self.wall.get(phase.name, 0.0) + seconds
        if phase.is_stage:  # `preprocess` has its own entry; stage time counts as preprocessing
            self.wall["preprocess"] += seconds
        for row in rows:
            row.update(
                lr=lr,
                seconds=seconds,
                examples=examples,
                examples_total=self.examples_total,
                seconds_total=self.seconds_total,
            )
        self.history.extend(rows)

    def checkpoint(self, phase: Phase, epoch: int, scheduler: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint dict as of now but the network's and optimiser's state, which the
        writer adds (core/training/writer.py); the same whether the run trained alone or in a
        group. Its lists and dicts are copies: the writer saves it while training goes on."""
        return {
            "identity": self.identity,
            "scheduler": scheduler,
            "phase": phase.name,
            "phase_index": phase.index,
            "epoch": epoch,
            "rng": self.rng,
            "history": list(self.history),
            "wall_seconds": dict(self.wall),
            "examples_total": self.examples_total,
            "seconds_total": self.seconds_total,
            "init_fingerprint": self.fingerprint,
        }

    def end(self, status: str, error: str | None = None) -> None:
        self.status, self.error = status, error

    def result(self) -> RunResult:
        t = self.spec.training
        return RunResult(
            self.arm.name,
            self.repeat,
            self.spec.seed,
            self.fingerprint,
            self.status,
            dict(self.wall),
            list(self.history),
            t.precision,
            t.deterministic,
            self.error,
            param_count(self.model),
        )


def _group_by_epoch(rows: list[MetricRow]) -> list[list[MetricRow]]:
    groups: dict[tuple[str, int], list[MetricRow]] = {}
    for row in rows:
        groups.setdefault((row["phase"], row["epoch"]), []).append(row)
    return list(groups.values())
