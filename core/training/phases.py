"""The phases of a run and its seeding: what trains when, and from which random draws.

Every random draw comes from a generator seeded by (seed, purpose, repeat, phase, epoch), so every
arm of repeat r starts from the same weights and sees the same main-phase data order, and a
resumed run replays exactly what an uninterrupted one does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import nn

from core.methods import Plan
from core.models import build_model
from core.spec import ExperimentSpec, StageSpec


@dataclass(frozen=True)
class Phase:
    """A stage (`stage-k`), `preprocess` or `main`, with the hyper-parameters it trains with."""

    name: str
    index: int
    epochs: int
    lr: float
    batch_size: int
    lr_decay: float
    fraction: float | None = None  # None: the full training set
    # False: carry on with the previous phase's optimiser and schedule (main after preprocess).
    new_optimizer: bool = True
    # False: the learning rate stays put during this phase (the paper's preprocessing epoch).
    steps_schedule: bool = True

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
    """The stages of `plan` (each with fresh hyper-parameters), `preprocess`, then main.

    `preprocess` is what the paper's code does for the original network ("Pre train the
    original", main.py): full-data epochs with the optimiser that then carries on into the main
    phase, and no scheduler step during them. Without the plan's reset, every phase after the
    first stage carries on the first stage's optimiser and schedule in the same way.
    """
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
            new_optimizer=plan.reset or k == 0,
        )

    phases = [stage_phase(k, s) for k, s in enumerate(plan.stages)]
    k = plan.preprocess_epochs
    if k:
        preprocess = Phase(
            "preprocess", len(phases), k, t.lr, t.batch_size, t.lr_decay, steps_schedule=False
        )
        phases.append(preprocess)
    main = Phase(
        "main",
        len(phases),
        t.epochs,
        t.lr,
        t.batch_size,
        t.lr_decay,
        new_optimizer=plan.reset and not k,
    )
    return [*phases, main]


def stage_sample(spec: ExperimentSpec, repeat: int, phase: Phase, n: int) -> torch.Tensor:
    """A uniform sample without repetition of round(fraction·n) indices, new for each stage."""
    assert phase.fraction is not None
    size = min(n, max(2, round(phase.fraction * n)))
    return torch.randperm(n, generator=generator_for(spec.seed, "sample", repeat, phase.index))[
        :size
    ]
