"""Runs one (arm, repeat) of an experiment: pairing, stages, main phase, checkpoints, metrics.

Repeat r of every arm starts from the same initial weights and sees the same main-phase data
order: every random draw comes from a generator seeded by (seed, purpose, repeat, phase, epoch),
so a run resumed from any epoch's checkpoint replays exactly what an uninterrupted run does.

Phases run in order: the stages (`stage-1`, ...), then `preprocess` (the `original` arm's
`preprocess_epochs` full-data epochs, as the paper's code trains them), then `main`. Every
metric row carries `examples_total` and `seconds_total`, the examples trained on and the
training wall seconds of the run so far, all phases included: the equal-compute axes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from core.checkpoint import load_checkpoint, save_checkpoint
from core.data import load_for_spec
from core.data.base import Dataset, Split
from core.methods import plan_for
from core.numerics import configure
from core.phases import (
    Phase,
    derive_seed,
    generator_for,
    initial_model,
    phases_for,
    stage_sample,
    state_fingerprint,
)
from core.spec import ArmSpec, ExperimentSpec
from core.train import Cancelled, Preprocess, evaluate, make_optimizer, train_one_epoch

MetricRow = dict[str, Any]
# Re-exported: callers have always found the seeding helpers here.
__all__ = ["derive_seed", "generator_for", "initial_model", "phases_for", "state_fingerprint"]


class RunCancelled(Exception):
    """The run was asked to stop; its last checkpoint and metrics stay valid."""


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, missing data); the message names phase and epoch."""


@dataclass
class RunResult:
    """What a finished run reports; `metrics` holds one row per phase, epoch and split."""

    arm: str
    repeat: int
    seed: int
    init_fingerprint: str
    status: str
    wall_seconds: dict[str, float]
    metrics: list[MetricRow] = field(default_factory=list)
    precision: str = "fp32"
    deterministic: bool = False

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


class _Run:
    """The state of one run while it trains; `run_single` is its public face."""

    def __init__(
        self, spec: ExperimentSpec, arm: ArmSpec, repeat: int, data: Dataset, device: torch.device
    ) -> None:
        self.spec, self.arm, self.repeat, self.data, self.device = spec, arm, repeat, data, device
        self.plan = plan_for(arm)
        self.phases = phases_for(spec, self.plan)
        self.model = initial_model(spec, repeat, data.num_classes, "init")
        self.fingerprint = state_fingerprint(self.model)
        self.model.to(device).to(memory_format=torch.channels_last)
        self.history: list[MetricRow] = []
        self.wall: dict[str, float] = {"preprocess": 0.0}
        # Examples trained on and training seconds so far, every phase included.
        self.examples_total, self.seconds_total = 0, 0.0
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.sample_index: dict[str, torch.Tensor] = {}
        self.should_stop: Callable[[], bool] | None = None  # evaluation checks it too
        self.identity = {"spec": spec.model_dump_json(), "arm": arm.name, "repeat": repeat}
        self.eval_pre = Preprocess.build(
            data.mean, data.std, normalize=spec.dataset.normalize, augment=False, device=device
        )
        self.train_pre = Preprocess.build(
            data.mean,
            data.std,
            normalize=spec.dataset.normalize,
            augment=spec.training.augment == "crop_flip",
            device=device,
        )

    def new_optimizer(self, phase: Phase) -> None:
        t = self.spec.training
        self.optimizer = make_optimizer(
            t.optimizer,
            self.model.parameters(),
            lr=phase.lr,
            weight_decay=t.weight_decay,
            device=self.device,
        )
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, phase.lr_decay)

    def splits_of(self, phase: Phase) -> list[str]:
        """Stages measure `stage_splits`; preprocess the same, its sample being the whole train
        set; main measures train, val and test."""
        if phase.is_stage:
            return list(self.spec.stage_splits)
        if phase.name == "preprocess":
            splits = ["train" if s == "sample" else s for s in self.spec.stage_splits]
            return list(dict.fromkeys(splits))
        return ["train", "val", "test"]

    def measure(self, phase: Phase, epoch: int, running: dict[str, Any]) -> list[MetricRow]:
        """Rows for every split this phase measures; `running` holds the training pass's."""
        t = self.spec.training
        rows = []
        for split in self.splits_of(phase):
            if split in running and t.train_metrics == "running":
                result = running[split]
            else:
                tensors = self.split_tensors(phase, split)
                if tensors is None:
                    continue
                result = evaluate(
                    self.model,
                    *tensors,
                    batch_size=t.eval_batch_size,
                    preprocess=self.eval_pre,
                    precision=t.precision,
                    should_stop=self.should_stop,
                )
            rows.append(
                {
                    "phase": phase.name,
                    "epoch": epoch,
                    "split": split,
                    "loss": result.loss,
                    "accuracy": result.accuracy,
                }
            )
        return rows

    def split_tensors(self, phase: Phase, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
        if split == "sample":
            if not phase.is_stage:
                return None
            index = self.sample_index[phase.name]
            return self.data.train.images[index], self.data.train.labels[index]
        part = self.data.split(split)
        return None if part is None else (part.images, part.labels)

    def train(
        self,
        checkpoint_path: Path | None,
        on_epoch: Callable[[list[MetricRow]], None] | None,
        should_stop: Callable[[], bool] | None,
        on_progress: Callable[[str, int, int], None] | None,
    ) -> None:
        """Every phase in order, resuming after the checkpoint's epoch when there is one."""
        start, first_epoch, resumed = 0, self.first_epoch(self.phases[0]), False
        self.should_stop = should_stop
        if checkpoint_path is not None and checkpoint_path.exists():
            start, first_epoch, resumed = self.restore(load_checkpoint(checkpoint_path))
            if on_epoch is not None:
                for rows in _group_by_epoch(self.history):
                    on_epoch(rows)
        for phase in self.phases[start:]:
            in_progress = resumed and phase.index == start
            self.run_phase(
                phase,
                first_epoch if phase.index == start else self.first_epoch(phase),
                in_progress,
                checkpoint_path,
                on_epoch,
                should_stop,
                on_progress,
            )

    @staticmethod
    def first_epoch(phase: Phase) -> int:
        """Stages start at epoch 0, measured before any training (Fig. 3); the others at 1."""
        return 0 if phase.is_stage else 1

    def restore(self, state: dict[str, Any]) -> tuple[int, int, bool]:
        """Load a checkpoint; returns (phase index, next epoch, whether that phase is under way).

        The optimiser and schedule are restored either way: a phase that carries them on (main
        after preprocess) continues from the saved ones.
        """
        if state.get("identity") != self.identity:
            raise TrainingError("checkpoint belongs to another run or spec; refusing to resume")
        self.model.load_state_dict(state["model"])
        self.history, self.wall = list(state["history"]), dict(state["wall_seconds"])
        self.examples_total = int(state["examples_total"])
        self.seconds_total = float(state["seconds_total"])
        torch.set_rng_state(state["rng"])
        index, epoch = int(state["phase_index"]), int(state["epoch"]) + 1
        self.new_optimizer(self.phases[index])
        assert self.optimizer is not None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if epoch > self.phases[index].epochs:
            # The checkpoint ends a phase; after the main phase there is nothing left to train.
            following = self.phases[index + 1 : index + 2]
            return index + 1, self.first_epoch(following[0]) if following else 0, False
        return index, epoch, True

    def run_phase(
        self,
        phase: Phase,
        first_epoch: int,
        in_progress: bool,
        checkpoint_path: Path | None,
        on_epoch: Callable[[list[MetricRow]], None] | None,
        should_stop: Callable[[], bool] | None,
        on_progress: Callable[[str, int, int], None] | None,
    ) -> None:
        """Train one phase from `first_epoch`, checkpointing every epoch.

        A phase gets a fresh optimiser and schedule unless it is under way (restored) or carries
        on the previous phase's.
        """
        repeat = self.repeat
        train = self.data.train
        if phase.is_stage:
            index = stage_sample(self.spec, repeat, phase, len(train)).to(self.device)
            self.sample_index[phase.name] = index
            images, labels = train.images[index], train.labels[index]
        else:
            images, labels = train.images, train.labels
            fresh_main = phase.name == "main" and first_epoch == 1 and not in_progress
            if fresh_main and self.plan.after_stages is not None:
                fresh = initial_model(self.spec, repeat, self.data.num_classes, "fresh")
                self.plan.after_stages(self.model, fresh)
        if not in_progress and (phase.new_optimizer or self.optimizer is None):
            self.new_optimizer(phase)
        for epoch in range(first_epoch, phase.epochs + 1):
            running = self.train_epoch(phase, epoch, images, labels, should_stop)
            result = running.get("sample" if phase.is_stage else "train")
            seconds = running.pop("seconds", 0.0)
            examples = result.examples if result is not None else 0
            rows = self.measure(phase, epoch, running)
            self.account(phase, seconds, examples)
            for row in rows:
                row.update(
                    lr=running["lr"],
                    seconds=seconds,
                    examples=examples,
                    examples_total=self.examples_total,
                    seconds_total=self.seconds_total,
                )
            self.history.extend(rows)
            # A run told to stop during evaluation must not write the epoch's checkpoint.
            if should_stop is not None and should_stop():
                raise Cancelled
            if checkpoint_path is not None:
                save_checkpoint(self.checkpoint(phase, epoch), checkpoint_path)
            if on_epoch is not None:
                on_epoch(rows)
            if on_progress is not None:
                on_progress(phase.name, epoch, phase.epochs)

    def train_epoch(
        self,
        phase: Phase,
        epoch: int,
        images: torch.Tensor,
        labels: torch.Tensor,
        should_stop: Callable[[], bool] | None,
    ) -> dict[str, Any]:
        """One training pass (none at a stage's epoch 0): {lr, seconds, train|sample: result}."""
        assert self.optimizer is not None
        seed, repeat = self.spec.seed, self.repeat
        running: dict[str, Any] = {"lr": float(self.scheduler.get_last_lr()[0])}
        if epoch == 0:
            return running
        torch.manual_seed(derive_seed(seed, "torch", repeat, phase.name, epoch))
        began = time.perf_counter()
        result = train_one_epoch(
            self.model,
            self.optimizer,
            images,
            labels,
            batch_size=phase.batch_size,
            preprocess=self.train_pre,
            generator=generator_for(seed, "order", repeat, phase.name, epoch),
            should_stop=should_stop,
            precision=self.spec.training.precision,
        )
        running["seconds"] = time.perf_counter() - began
        if not math.isfinite(result.loss):
            raise TrainingError(
                f"training loss became {result.loss} in phase {phase.name}, epoch {epoch}"
            )
        if phase.steps_schedule:
            self.scheduler.step()
        running["sample" if phase.is_stage else "train"] = result
        return running

    def account(self, phase: Phase, seconds: float, examples: int) -> None:
        """Running totals, and training wall time per phase and as preprocessing.

        The `preprocess` phase's time is its own entry; stage time counts as preprocessing too.
        """
        self.examples_total += examples
        self.seconds_total += seconds
        self.wall[phase.name] = self.wall.get(phase.name, 0.0) + seconds
        if phase.is_stage:
            self.wall["preprocess"] += seconds

    def checkpoint(self, phase: Phase, epoch: int) -> dict[str, Any]:
        assert self.optimizer is not None
        return {
            "identity": self.identity,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "phase": phase.name,
            "phase_index": phase.index,
            "epoch": epoch,
            "rng": torch.get_rng_state(),
            "history": self.history,
            "wall_seconds": self.wall,
            "examples_total": self.examples_total,
            "seconds_total": self.seconds_total,
            "init_fingerprint": self.fingerprint,
        }


def _group_by_epoch(rows: list[MetricRow]) -> list[list[MetricRow]]:
    groups: dict[tuple[str, int], list[MetricRow]] = {}
    for row in rows:
        groups.setdefault((row["phase"], row["epoch"]), []).append(row)
    return list(groups.values())


def resolve_device(device: str) -> torch.device:
    """The torch device for `device`, refusing CUDA where there is none."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"device {device!r} requested but CUDA is not available here")
    return torch.device(device)


def to_device(data: Dataset, device: torch.device) -> Dataset:
    """A copy of `data` whose tensors live on `device` (uint8 stays uint8)."""

    def move(split: Split | None) -> Split | None:
        return None if split is None else Split(split.images.to(device), split.labels.to(device))

    return Dataset(
        Split(data.train.images.to(device), data.train.labels.to(device)),
        move(data.val),
        move(data.test),
        data.num_classes,
        data.mean,
        data.std,
    )


def load_run_data(spec: ExperimentSpec, data_root: str | None, device: str) -> Dataset:
    """The experiment's data set, moved once to the training device."""
    return to_device(load_for_spec(spec.dataset, data_root, seed=spec.seed), resolve_device(device))


def run_single(
    spec: ExperimentSpec,
    arm: str,
    repeat: int,
    *,
    device: str = "cpu",
    data_root: str | None = None,
    dataset: Dataset | None = None,
    checkpoint_path: Path | None = None,
    on_epoch: Callable[[list[MetricRow]], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
) -> RunResult:
    """Train arm `arm`, repeat `repeat`; resumes from `checkpoint_path` when it exists.

    `on_epoch` receives each finished epoch's rows after its checkpoint is saved; on resume
    the rows already in the checkpoint are sent again first, so the receiver must upsert.
    Raises RunCancelled when `should_stop` says so, TrainingError when training cannot go on.
    """
    torch_device = resolve_device(device)
    t = spec.training
    configure(t.precision, t.deterministic, torch_device)
    data = dataset if dataset is not None else load_run_data(spec, data_root, device)
    run = _Run(spec, spec.arm(arm), repeat, data, torch_device)
    try:
        run.train(checkpoint_path, on_epoch, should_stop, on_progress)
    except Cancelled:
        raise RunCancelled(f"run {arm}/{repeat} cancelled") from None
    return RunResult(
        arm,
        repeat,
        spec.seed,
        run.fingerprint,
        "done",
        dict(run.wall),
        list(run.history),
        t.precision,
        t.deterministic,
    )
