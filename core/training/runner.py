"""Runs one (arm, repeat) of an experiment, or several repeats of one arm together.

Phases run in order: the stages (`stage-1`, ...), then `preprocess` (the `original` arm's
`preprocess_epochs` full-data epochs, as the paper's code trains them), then `main`. Every
metric row carries `examples_total` and `seconds_total`, the examples trained on and the
training wall seconds of the run so far, all phases included: the equal-compute axes.

`run_group` is the one entry point: it trains its runs in lockstep as one stacked network when
they are at the same point and the model stacks (core/training/lockstep.py), one by one otherwise.
`run_single` is a group of one that raises what its run ended with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch

from core.data import load_for_spec
from core.data.base import Dataset, Split
from core.models.fit import input_problem
from core.spec import ExperimentSpec
from core.training.lockstep import Lockstep
from core.training.member import (
    Member,
    MetricRow,
    Position,
    RunCancelled,
    RunHooks,
    RunResult,
    TrainingError,
)
from core.training.numerics import configure
from core.training.phases import (
    Phase,
    derive_seed,
    generator_for,
    initial_model,
    phases_for,
    stage_sample,
    state_fingerprint,
)
from core.training.stacked import try_stack
from core.training.train import Cancelled

log = logging.getLogger(__name__)
# Re-exported: callers have always found these here.
__all__ = [
    "MetricRow",
    "Phase",
    "RunCancelled",
    "RunHooks",
    "RunResult",
    "TrainingError",
    "derive_seed",
    "generator_for",
    "initial_model",
    "phases_for",
    "run_group",
    "run_single",
    "stage_sample",
    "state_fingerprint",
]


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


def lockstep_groups(
    members: list[Member], positions: list[Position], image_size: int
) -> list[tuple[list[Member], list[Position]]]:
    """Members that can train together: the same position, and a model that stacks.

    Members of one group checkpoint one after another, so a kill can leave them an epoch
    apart; each position trains as its own group then.
    """
    if len(members) > 1 and try_stack([m.model for m in members[:2]], image_size) is None:
        return [([m], [p]) for m, p in zip(members, positions, strict=True)]
    groups: dict[tuple[object, ...], tuple[list[Member], list[Position]]] = {}
    for m, p in zip(members, positions, strict=True):
        group = groups.setdefault(p.key, ([], []))
        group[0].append(m)
        group[1].append(p)
    return list(groups.values())


def run_group(
    spec: ExperimentSpec,
    arm: str,
    runs: list[RunHooks],
    *,
    device: str = "cpu",
    data_root: str | None = None,
    dataset: Dataset | None = None,
) -> list[RunResult]:
    """Train repeats of arm `arm` together; each resumes from its own checkpoint when it exists.

    Returns one result per run, in order, with status done, failed (its `error` says why: a
    non-finite loss, a foreign checkpoint) or cancelled; one run's failure never stops the rest.
    Infrastructure errors (a checkpoint that cannot be written, out of memory) propagate.
    """
    torch_device = resolve_device(device)
    t = spec.training
    configure(t.precision, t.deterministic, torch_device)
    data = dataset if dataset is not None else load_run_data(spec, data_root, device)
    members = [Member(spec, spec.arm(arm), hooks, data, torch_device) for hooks in runs]
    image_shape = tuple(int(n) for n in data.train.images.shape[1:])
    problem = input_problem(members[0].model, spec.model, image_shape, torch_device)
    if problem is not None:  # the same network for every member: none can train
        for m in members:
            m.end("failed", problem)
        return [m.result() for m in members]
    ready, positions = [], []
    for m in members:
        try:
            positions.append(m.start())
            ready.append(m)
        except TrainingError as error:
            m.end("failed", str(error))
    image_size = int(data.train.images.shape[-1])
    for group, starts in lockstep_groups(ready, positions, image_size):
        lockstep = Lockstep(group, data, torch_device)
        try:
            lockstep.train(starts)
        except Cancelled:
            for m in lockstep.members:
                m.end("cancelled")
    return [m.result() for m in members]


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
    """Train arm `arm`, repeat `repeat` alone: `run_group` with one run.

    Raises RunCancelled when `should_stop` says so, TrainingError when training cannot go on.
    """
    hooks = RunHooks(repeat, checkpoint_path, on_epoch, should_stop, on_progress)
    result = run_group(spec, arm, [hooks], device=device, data_root=data_root, dataset=dataset)[0]
    if result.status == "failed":
        raise TrainingError(result.error)
    if result.status == "cancelled":
        raise RunCancelled(f"run {arm}/{repeat} cancelled")
    return result
