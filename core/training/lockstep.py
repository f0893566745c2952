"""The training loop of core.training.runner: 1..R runs of one arm, at the same point, in lockstep.

A single run is a group of one whose network is the run's own (no rewrite). R > 1 runs train
as one stacked network (core/training/stacked.py) with one fused optimiser over the stacked
parameters:
AdamW and SGD are elementwise, so each member's update is the one its own optimiser would make
(same lr, weight decay and schedule, which are per arm). Each member keeps its own data order,
augmentation and stage samples (its own generators), its own rows and checkpoint (its slice, in
the single-run format, so it can resume alone), and its own fate:

- a non-finite training loss fails that member alone; it is dropped and the rest go on;
- a member whose `should_stop` answers True is dropped at the next epoch boundary, its last
  checkpoint and rows standing (a cancel or a lost lease: nothing more is written for it);
- when every member asks to stop, the whole group stops at the next batch (worker shutdown).
"""

from __future__ import annotations

import copy
import functools
import math
import time
from collections.abc import Callable
from typing import Any

import torch

from core.data.base import Dataset
from core.training.member import Member, MetricRow, Position, arm_initial_model, first_epoch
from core.training.phases import Phase, derive_seed, generator_for, stage_sample
from core.training.stacked import (
    StackedModel,
    member_snapshot,
    own_dropout,
    set_dropout_generators,
    stack_models,
    stack_optimizer_states,
)
from core.training.train import (
    EpochResult,
    Preprocess,
    evaluate_members,
    make_optimizer,
    train_members_epoch,
)
from core.training.writer import CheckpointWriter, HostCopy, MemberWrite, write_epoch


class Lockstep:
    """Members at the same position, the network and optimiser they train with."""

    def __init__(self, members: list[Member], data: Dataset, device: torch.device) -> None:
        self.members, self.data, self.device = members, data, device
        self.spec, self.phases = members[0].spec, members[0].phases
        normalize = self.spec.dataset.normalize
        self.eval_pre = Preprocess.build(
            data.mean, data.std, normalize=normalize, augment=False, device=device
        )
        augment = self.spec.training.augment == "crop_flip"
        self.train_pre = Preprocess.build(
            data.mean, data.std, normalize=normalize, augment=augment, device=device
        )
        self.model = self.stack()
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self.writer = CheckpointWriter()
        every = self.spec.execution.checkpoint_every
        self.every = 0.0 if every == "epoch" else float(every)
        self.saved_at = 0.0  # time.monotonic() of the last checkpoint taken

    def stack(self) -> StackedModel:
        """The members' networks as one (a single run's own network, unchanged)."""
        models = [m.model for m in self.members]
        if len(models) > 1:
            return stack_models(models)
        # Alone, whatever its layers; its dropout draws masks as the same member stacked would.
        return StackedModel(own_dropout(models[0]), 1)

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

    def load_optimizer(
        self, phase: Phase, states: list[dict[str, Any]], scheduler: dict[str, Any]
    ) -> None:
        """An optimiser for `phase` carrying on from the members' own optimiser states."""
        self.new_optimizer(phase)
        assert self.optimizer is not None
        self.optimizer.load_state_dict(
            states[0] if len(states) == 1 else stack_optimizer_states(states)
        )
        self.scheduler.load_state_dict(scheduler)

    def host_state(self) -> HostCopy:
        """The stacked network's and optimiser's state, copied to the host in one pass."""
        assert self.optimizer is not None
        state = (self.model.module.state_dict(), self.optimizer.state_dict())
        return HostCopy(state, self.device)

    def train(self, positions: list[Position]) -> None:
        """Every phase from the members' common position; members still running end done."""
        first = positions[0]
        if first.saved_phase is not None:
            scheduler = first.scheduler or {}
            states = [p.optimizer or {} for p in positions]
            self.load_optimizer(self.phases[first.saved_phase], states, scheduler)
        self.saved_at = time.monotonic()
        with self.writer:  # every epoch trained is written and delivered before this returns
            for phase in self.phases[first.phase_index :]:
                if not self.members:  # every member failed or stopped
                    return
                starting = phase.index == first.phase_index
                epoch = first.epoch if starting else first_epoch(phase)
                self.run_phase(phase, epoch, starting and first.in_progress)
        for member in self.members:
            member.end("done")

    def run_phase(self, phase: Phase, epoch: int, in_progress: bool) -> None:
        """One phase from `epoch`; a fresh optimiser unless under way or carried on."""
        if phase.is_stage:
            for m in self.members:
                n = len(self.data.train)
                m.sample_index[phase.name] = stage_sample(self.spec, m.repeat, phase, n).to(
                    self.device
                )
        elif phase.name == "main" and epoch == 1 and not in_progress:
            self.after_stages()
        if not in_progress and (phase.new_optimizer or self.optimizer is None):
            self.new_optimizer(phase)
        for e in range(epoch, phase.epochs + 1):
            if not self.members:
                return
            self.run_epoch(phase, e)

    def after_stages(self) -> None:
        """The method's weight transform (shrink_perturb), on each member's own network."""
        plan = self.members[0].plan
        if plan.after_stages is None:
            return
        self.sync_down()
        for m in self.members:
            # The fresh network is drawn with the arm's own scheme: shrink_perturb with
            # `init: orthogonal` perturbs towards an orthogonal init, not PyTorch's default.
            fresh = arm_initial_model(self.spec, m.arm, m.repeat, self.data, "fresh")
            plan.after_stages(m.model, fresh)
        self.model = self.stack()  # a fresh optimiser follows: main starts one after stages

    def sync_down(self) -> None:
        """Write each member's slice of the stacked network back into its own network."""
        if len(self.members) > 1:
            for m, state in zip(self.members, self.model.member_states(), strict=True):
                m.model.load_state_dict(state)

    def run_epoch(self, phase: Phase, epoch: int) -> None:
        """Train, measure, record and checkpoint one epoch; drop members that failed or stop."""
        assert self.scheduler is not None
        lr = float(self.scheduler.get_last_lr()[0])
        results, seconds = self.train_epoch(phase, epoch)
        if results is not None and phase.steps_schedule:
            self.scheduler.step()
        rows = self.measure(phase, epoch, results)
        # The previous epoch is on disk and delivered before anyone is asked to stop: a stop
        # its rows caused takes effect at this boundary, as when writes were synchronous.
        self.writer.wait()
        ended = [
            self.ended(m, phase, epoch, results[i] if results else None)
            for i, m in enumerate(self.members)
        ]
        keep = [i for i, gone in enumerate(ended) if not gone]
        for i in keep:
            m = self.members[i]
            m.record(phase, rows[i], lr, seconds, results[i].examples if results else 0)
            m.unsaved.append(rows[i])
        saving = self.saving(phase, epoch)
        saves = saving and any(self.members[i].hooks.checkpoint_path is not None for i in keep)
        dropping = 0 < len(keep) < len(ended)  # the rest go on from their current state
        state = self.host_state() if saves or dropping else None
        scheduler = copy.deepcopy(self.scheduler.state_dict())
        writes = [self.member_write(i, saving, phase, epoch, scheduler) for i in keep]
        job = [w for w in writes if w is not None]
        self.writer.submit(functools.partial(write_epoch, state, len(self.members), job))
        for i in keep:
            m = self.members[i]
            if m.hooks.on_progress is not None:
                m.hooks.on_progress(phase.name, epoch, phase.epochs)
        if len(keep) < len(self.members):
            self.drop(keep, phase, state, scheduler)

    def saving(self, phase: Phase, epoch: int) -> bool:
        """Whether this epoch checkpoints: every epoch, or once `checkpoint_every` seconds
        passed since the last one; a phase's last epoch always does (so does the run's)."""
        now = time.monotonic()
        if epoch < phase.epochs and now - self.saved_at < self.every:
            return False
        self.saved_at = now
        return True

    def member_write(
        self, i: int, saving: bool, phase: Phase, epoch: int, scheduler: dict[str, Any]
    ) -> MemberWrite | None:
        """Member i's part of this epoch's writer job: its file, then the rows it holds; None
        while its rows wait for its next file."""
        m = self.members[i]
        path = m.hooks.checkpoint_path
        if path is not None and not saving:
            return None
        record = m.checkpoint(phase, epoch, scheduler) if path is not None else None
        delivered, m.unsaved = m.unsaved, []
        return MemberWrite(i, path, record, delivered, m.hooks.on_epoch)

    @staticmethod
    def ended(m: Member, phase: Phase, epoch: int, result: EpochResult | None) -> bool:
        """Whether this epoch ends the member: a non-finite loss fails it, a stop cancels it."""
        if result is not None and not math.isfinite(result.loss):
            m.end(
                "failed", f"training loss became {result.loss} in phase {phase.name}, epoch {epoch}"
            )
            return True
        if m.hooks.should_stop is not None and m.hooks.should_stop():
            m.end("cancelled")
            return True
        return False

    def drop(
        self, keep: list[int], phase: Phase, state: HostCopy | None, scheduler: dict[str, Any]
    ) -> None:
        """Go on with the members in `keep` only, each from its own current state."""
        members = len(self.members)
        self.members = [self.members[i] for i in keep]
        if not self.members:
            return
        assert state is not None
        snapshots = [member_snapshot(state.value(), i, members) for i in keep]
        for m, (model, _) in zip(self.members, snapshots, strict=True):
            m.model.load_state_dict(model)
        self.model = self.stack()
        self.load_optimizer(phase, [optimizer for _, optimizer in snapshots], scheduler)

    def train_epoch(self, phase: Phase, epoch: int) -> tuple[list[EpochResult] | None, float]:
        """One training pass of every member (none at a stage's epoch 0); results and seconds.

        The seconds are the group's wall time divided by its size: each member's share.
        """
        if epoch == 0:
            return None, 0.0
        assert self.optimizer is not None
        seed = self.spec.seed
        seeds = [derive_seed(seed, "torch", m.repeat, phase.name, epoch) for m in self.members]
        for m, member_seed in zip(self.members, seeds, strict=True):
            torch.manual_seed(member_seed)  # what a layer outside MemberDropout would draw from
            m.rng = torch.get_rng_state()
        # Each member's dropout masks from its own generator: the same alone and stacked.
        set_dropout_generators(
            self.model, [torch.Generator(self.device).manual_seed(s) for s in seeds]
        )
        generators = [
            generator_for(seed, "order", m.repeat, phase.name, epoch) for m in self.members
        ]
        train = self.data.train
        began = time.perf_counter()
        results = train_members_epoch(
            self.model,
            self.optimizer,
            train.images,
            train.labels,
            batch_size=phase.batch_size,
            preprocess=self.train_pre,
            generators=generators,
            subsets=self.samples(phase),
            should_stop=self.stop_all(),
            precision=self.spec.training.precision,
        )
        return results, (time.perf_counter() - began) / len(self.members)

    def samples(self, phase: Phase) -> torch.Tensor | None:
        """Each member's stage sample (R×n indices into the training set), None outside stages."""
        if not phase.is_stage:
            return None
        return torch.stack([m.sample_index[phase.name] for m in self.members])

    def stop_all(self) -> Callable[[], bool] | None:
        """Stops the group mid-epoch only when every member asks to stop."""
        stops = [m.hooks.should_stop for m in self.members]
        if any(s is None for s in stops):
            return None
        return lambda: all(s() for s in stops if s is not None)

    def measure(
        self, phase: Phase, epoch: int, results: list[EpochResult] | None
    ) -> list[list[MetricRow]]:
        """Each member's rows for every split this phase measures."""
        t = self.spec.training
        running = "sample" if phase.is_stage else "train"
        rows: list[list[MetricRow]] = [[] for _ in self.members]
        for split in self.members[0].splits_of(phase):
            if results is not None and split == running and t.train_metrics == "running":
                measured = results
            else:
                part = self.split_data(phase, split)
                if part is None:
                    continue
                measured = evaluate_members(
                    self.model,
                    part[0],
                    part[1],
                    batch_size=t.eval_batch_size,
                    preprocess=self.eval_pre,
                    subsets=part[2],
                    precision=t.precision,
                    should_stop=self.stop_all(),
                )
            for own, result in zip(rows, measured, strict=True):
                own.append(
                    {
                        "phase": phase.name,
                        "epoch": epoch,
                        "split": split,
                        "loss": result.loss,
                        "accuracy": result.accuracy,
                    }
                )
        return rows

    def split_data(
        self, phase: Phase, split: str
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
        """(images, labels, per-member subsets) of a split, None where it does not exist."""
        if split == "sample":
            subsets = self.samples(phase)
            train = self.data.train
            return None if subsets is None else (train.images, train.labels, subsets)
        part = self.data.split(split)
        return None if part is None else (part.images, part.labels, None)
