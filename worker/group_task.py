"""One task trains a run with the queued repeats of its group, as one stacked model.

With `execution.batch_repeats: R` (an integer), repeats 0..R-1, R..2R-1, ... of an arm form
groups (core.training.group.repeat_groups). Messages stay one per run, so recovery, the lost-message
check, cancel and retry work per run as before; what groups is the claim
(store.executions.claim_group): the run a message names takes, in the same transaction, the
queued runs of its group, whose own messages then find them held and are skipped. Each member
keeps what a run alone has: its own fence, heartbeat and progress mark (an Ownership each),
fenced rows and checkpoint, and its own end (a NaN fails that member alone). A killed
worker's members are re-queued one by one by recovery; the first of their messages to be
claimed gathers those still queued, and core.training.runner.run_group resumes each member from its
own checkpoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from core.spec import ExperimentSpec
from core.training.group import repeat_groups, resolve_batch_repeats
from core.training.runner import RunHooks, RunResult, load_run_data, resolve_device, run_group
from store.artifacts import Artifacts
from worker import faults
from worker.data_check import check_present, check_same, data_digest
from worker.ownership import Ownership, prepare_checkpoint

# `auto`: what core.training.group measured for an experiment on this worker's device. The
# measurement
# needs the data, which loads after the claim that must already know the group, so the first
# claim of an experiment trains its run alone and measures; later claims group by the answer
# (cached per device, model and shape by core.training.group, so other workers skip the probe).
_measured: dict[str, int] = {}


def group_size(spec: ExperimentSpec) -> int:
    """How many repeats train together: the spec's integer, or what `auto` measured here (1
    until then, and always 1 on a CPU), at most the repeats."""
    wanted = spec.execution.batch_repeats
    if wanted == "auto":
        return _measured.get(spec.identity_json(), 1)
    return min(wanted, spec.repeats)


def repeat_group(spec: ExperimentSpec, repeat: int) -> list[int]:
    """The repeats that train with `repeat` (store.executions.claim_group's `mates`)."""
    return next(g for g in repeat_groups(spec.repeats, group_size(spec)) if repeat in g)


def _stop_check(owner: Ownership, owners: list[Ownership]) -> Callable[[], bool]:
    def should_stop() -> bool:
        # The lockstep driver stops asking at the first member that goes on, so a batch
        # counts as progress for every member, not only for those it asked.
        for other in owners:
            other.batches += 1
        return owner.should_stop()

    return should_stop


def member_hooks(owners: list[Ownership]) -> list[RunHooks]:
    """Each member's checkpoint file, fenced epoch writes and stop check."""
    return [
        RunHooks(
            owner.job.repeat,
            owner.job.checkpoint,
            owner.on_epoch,
            _stop_check(owner, owners),
            owner.on_progress,
        )
        for owner in owners
    ]


def check_digests(owners: list[Ownership], digest: str, data_root: str | None) -> None:
    """Each run keeps the digest of the data it first read; a resume on other data fails."""
    for owner in owners:
        check_same(owner.job.data_digest, digest, f"data root {data_root}")
    for owner in owners:
        owner.record_digest(digest)


def train(
    owners: list[Ownership], *, device: str, data_root: str | None, artifacts: Artifacts
) -> list[RunResult]:
    """Train the owners' runs (one arm) together through core.training.runner.run_group, each
    resuming from its own committed checkpoint; one result per owner, in order."""
    for owner in owners:
        prepare_checkpoint(owner.job, artifacts)
    hooks = member_hooks(owners)
    spec, arm = owners[0].job.spec, owners[0].job.arm
    with contextlib.ExitStack() as beating:
        for owner in owners:
            beating.enter_context(owner)
        faults.reach("load")  # testing only: a no-op unless a fault is armed
        check_present(spec, data_root)
        data = load_run_data(spec, data_root, device)
        check_digests(owners, data_digest(spec, data_root, data), data_root)
        if spec.execution.batch_repeats == "auto" and spec.identity_json() not in _measured:
            image_size = int(data.train.images.shape[-1])
            _measured[spec.identity_json()] = resolve_batch_repeats(
                spec, resolve_device(device), image_size, data.num_classes
            )
        return run_group(spec, arm, hooks, device=device, dataset=data)
