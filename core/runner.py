"""Runs one (arm, repeat) of an experiment: pairing, stages, main phase, checkpoints, metrics.

Repeat r of every arm starts from the same initial weights and sees the same main-phase data
order: every random draw comes from a generator seeded by (seed, purpose, repeat, phase, epoch),
so a run resumed from any epoch's checkpoint replays exactly what an uninterrupted run does.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.checkpoint import load_checkpoint, save_checkpoint
from core.data import load_for_spec
from core.data.base import Dataset, Split
from core.init_schemes import apply_init
from core.methods import Plan, plan_for
from core.models import build_model, param_count
from core.spec import ArmSpec, ExperimentSpec, StageSpec
from core.train import Cancelled, Preprocess, evaluate, make_optimizer, train_one_epoch

MetricRow = dict[str, Any]


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
    param_count: int = 0  # trainable parameters of the run's model

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


@dataclass(frozen=True)
class Phase:
    """A stage (`stage-k`) or the main phase, with the hyper-parameters it trains with."""

    name: str
    index: int
    epochs: int
    lr: float
    batch_size: int
    lr_decay: float
    fraction: float | None = None  # None: the full training set

    @property
    def is_stage(self) -> bool:
        return self.fraction is not None


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for one purpose; the same parts always give the same seed."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def generator_for(seed: int, *parts: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, *parts))


def state_fingerprint(model: nn.Module) -> str:
    """SHA-256 of a state_dict, so that pairing of initial weights is checkable."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def initial_model(spec: ExperimentSpec, repeat: int, num_classes: int, purpose: str) -> nn.Module:
    """The network of repeat `repeat`: identical for every arm of that repeat."""
    torch.manual_seed(derive_seed(spec.seed, purpose, repeat))
    return build_model(spec.model, num_classes)


def phases_for(spec: ExperimentSpec, plan: Plan) -> list[Phase]:
    """The stages of `plan`, then the main phase; each gets fresh hyper-parameters."""
    t = spec.training

    def stage_phase(k: int, s: StageSpec) -> Phase:
        return Phase(
            f"stage-{k + 1}",
            k,
            s.epochs,
            s.lr or t.lr,
            s.batch_size or t.batch_size,
            s.lr_decay or t.lr_decay,
            s.fraction,
        )

    stages = [stage_phase(k, s) for k, s in enumerate(plan.stages)]
    return [*stages, Phase("main", len(stages), t.epochs, t.lr, t.batch_size, t.lr_decay)]


def stage_sample(spec: ExperimentSpec, repeat: int, phase: Phase, n: int) -> torch.Tensor:
    """A uniform sample without repetition of round(fraction·n) indices, new for each stage."""
    assert phase.fraction is not None
    size = min(n, max(2, round(phase.fraction * n)))
    return torch.randperm(n, generator=generator_for(spec.seed, "sample", repeat, phase.index))[
        :size
    ]


class _Run:
    """The state of one run while it trains; `run_single` is its public face."""

    def __init__(
        self, spec: ExperimentSpec, arm: ArmSpec, repeat: int, data: Dataset, device: torch.device
    ) -> None:
        self.spec, self.arm, self.repeat, self.data, self.device = spec, arm, repeat, data, device
        self.plan = plan_for(arm)
        self.phases = phases_for(spec, self.plan)
        self.model = initial_model(spec, repeat, data.num_classes, "init")
        init_generator = generator_for(spec.seed, "init-scheme", repeat)  # same for every arm
        apply_init(self.model, arm.init, data, spec.dataset.normalize, init_generator)
        self.fingerprint = state_fingerprint(self.model)
        self.model.to(device).to(memory_format=torch.channels_last)
        self.history: list[MetricRow] = []
        self.wall: dict[str, float] = {"preprocess": 0.0}
        self.sample_index: dict[str, torch.Tensor] = {}
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

    def new_optimizer(self, phase: Phase) -> tuple[torch.optim.Optimizer, Any]:
        t = self.spec.training
        optimizer = make_optimizer(
            t.optimizer,
            self.model.parameters(),
            lr=phase.lr,
            weight_decay=t.weight_decay,
            device=self.device,
        )
        return optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, phase.lr_decay)

    def measure(self, phase: Phase, epoch: int, running: dict[str, Any]) -> list[MetricRow]:
        """Rows for every split this phase measures; `running` holds the training pass's."""
        t = self.spec.training
        splits = self.spec.stage_splits if phase.is_stage else ["train", "val", "test"]
        rows = []
        for split in splits:
            if split in running and t.train_metrics == "running":
                result = running[split]
            else:
                tensors = self.split_tensors(phase, split)
                if tensors is None:
                    continue
                result = evaluate(
                    self.model, *tensors, batch_size=t.eval_batch_size, preprocess=self.eval_pre
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
        start, first_epoch, saved = 0, self.first_epoch(self.phases[0]), None
        if checkpoint_path is not None and checkpoint_path.exists():
            start, first_epoch, saved = self.restore(load_checkpoint(checkpoint_path))
            if on_epoch is not None:
                for rows in _group_by_epoch(self.history):
                    on_epoch(rows)
        for phase in self.phases[start:]:
            resumed = phase.index == start
            self.run_phase(
                phase,
                first_epoch if resumed else self.first_epoch(phase),
                saved if resumed else None,
                checkpoint_path,
                on_epoch,
                should_stop,
                on_progress,
            )

    @staticmethod
    def first_epoch(phase: Phase) -> int:
        """Stages start at epoch 0, measured before any training (Fig. 3); main at 1."""
        return 0 if phase.is_stage else 1

    def restore(self, state: dict[str, Any]) -> tuple[int, int, tuple[Any, Any] | None]:
        """Load a checkpoint; returns (phase index, next epoch, optimiser+scheduler state)."""
        if state.get("identity") != self.identity:
            raise TrainingError("checkpoint belongs to another run or spec; refusing to resume")
        self.model.load_state_dict(state["model"])
        self.history, self.wall = list(state["history"]), dict(state["wall_seconds"])
        torch.set_rng_state(state["rng"])
        index, epoch = int(state["phase_index"]), int(state["epoch"]) + 1
        if epoch > self.phases[index].epochs:
            # The checkpoint ends a phase; after the main phase there is nothing left to train.
            following = self.phases[index + 1 : index + 2]
            return index + 1, self.first_epoch(following[0]) if following else 0, None
        return index, epoch, (state["optimizer"], state["scheduler"])

    def run_phase(
        self,
        phase: Phase,
        first_epoch: int,
        saved: tuple[Any, Any] | None,
        checkpoint_path: Path | None,
        on_epoch: Callable[[list[MetricRow]], None] | None,
        should_stop: Callable[[], bool] | None,
        on_progress: Callable[[str, int, int], None] | None,
    ) -> None:
        """Train one phase with a fresh optimiser and schedule, checkpointing every epoch."""
        seed, repeat = self.spec.seed, self.repeat
        train = self.data.train
        if phase.is_stage:
            index = stage_sample(self.spec, repeat, phase, len(train)).to(self.device)
            self.sample_index[phase.name] = index
            images, labels = train.images[index], train.labels[index]
        else:
            images, labels = train.images, train.labels
            if first_epoch == 1 and saved is None and self.plan.after_stages is not None:
                fresh = initial_model(self.spec, repeat, self.data.num_classes, "fresh")
                self.plan.after_stages(self.model, fresh)
        optimizer, scheduler = self.new_optimizer(phase)
        if saved is not None:
            optimizer.load_state_dict(saved[0])
            scheduler.load_state_dict(saved[1])
        for epoch in range(first_epoch, phase.epochs + 1):
            lr = float(scheduler.get_last_lr()[0])
            running: dict[str, Any] = {}
            seconds, examples = 0.0, 0
            if epoch > 0:
                torch.manual_seed(derive_seed(seed, "torch", repeat, phase.name, epoch))
                began = time.perf_counter()
                result = train_one_epoch(
                    self.model,
                    optimizer,
                    images,
                    labels,
                    batch_size=phase.batch_size,
                    preprocess=self.train_pre,
                    generator=generator_for(seed, "order", repeat, phase.name, epoch),
                    should_stop=should_stop,
                )
                seconds, examples = time.perf_counter() - began, result.examples
                if not math.isfinite(result.loss):
                    raise TrainingError(
                        f"training loss became {result.loss} in phase {phase.name}, epoch {epoch}"
                    )
                scheduler.step()
                running["sample" if phase.is_stage else "train"] = result
            rows = self.measure(phase, epoch, running)
            for row in rows:
                row.update(lr=lr, seconds=seconds, examples=examples)
            self.account(phase, epoch, seconds)
            self.history.extend(rows)
            if checkpoint_path is not None:
                save_checkpoint(
                    self.checkpoint(phase, epoch, optimizer, scheduler), checkpoint_path
                )
            if on_epoch is not None:
                on_epoch(rows)
            if on_progress is not None:
                on_progress(phase.name, epoch, phase.epochs)

    def account(self, phase: Phase, epoch: int, seconds: float) -> None:
        """Training wall time per phase, and the share counted as preprocessing."""
        self.wall[phase.name] = self.wall.get(phase.name, 0.0) + seconds
        if phase.is_stage or epoch <= self.plan.preprocess_epochs:
            self.wall["preprocess"] += seconds

    def checkpoint(
        self, phase: Phase, epoch: int, optimizer: torch.optim.Optimizer, scheduler: Any
    ) -> dict[str, Any]:
        return {
            "identity": self.identity,
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "phase": phase.name,
            "phase_index": phase.index,
            "epoch": epoch,
            "rng": torch.get_rng_state(),
            "history": self.history,
            "wall_seconds": self.wall,
            "init_fingerprint": self.fingerprint,
        }


def _group_by_epoch(rows: list[MetricRow]) -> list[list[MetricRow]]:
    groups: dict[tuple[str, int], list[MetricRow]] = {}
    for row in rows:
        groups.setdefault((row["phase"], row["epoch"]), []).append(row)
    return list(groups.values())


def resolve_device(device: str) -> torch.device:
    """The torch device for `device`, refusing CUDA where there is none."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainingError(f"device {device!r} requested but CUDA is not available here")
        # Fixed input shapes: let cuDNN pick the fastest kernels once (CUDA is not bitwise
        # reproducible anyway; CPU runs are).
        torch.backends.cudnn.benchmark = True
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
    data = dataset if dataset is not None else load_run_data(spec, data_root, device)
    run = _Run(spec, spec.arm(arm), repeat, data, torch_device)
    try:
        run.train(checkpoint_path, on_epoch, should_stop, on_progress)
    except Cancelled:
        raise RunCancelled(f"run {arm}/{repeat} cancelled") from None
    return RunResult(
        arm, repeat, spec.seed, run.fingerprint, "done", dict(run.wall), list(run.history),
        param_count=param_count(run.model),
    )
