"""Initialisation methods as lists of pre-training stages (DESIGN.md, "Method semantics")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from core.registry import Registry
from core.spec import ArmSpec, StageSpec

if TYPE_CHECKING:  # the API validates plans without loading torch
    from torch import nn


@dataclass(frozen=True)
class Plan:
    """What an arm does before the main phase: its stages, then an optional weight transform."""

    stages: list[StageSpec]
    # Full-data epochs trained before the main phase (the paper's `original` arm, Section II).
    preprocess_epochs: int = 0
    # Applied after the stages: (model, fresh model) -> None, in place.
    after_stages: Callable[[nn.Module, nn.Module], None] | None = field(default=None)
    # False: the phases after the first stage carry on its optimiser and schedule (ArmSpec.reset).
    reset: bool = True


METHODS: Registry[Callable[[ArmSpec], Plan]] = Registry("method")

# Paper defaults (Section II on ImageNet); presets override them per data set.
SMART_INIT_STAGES = [StageSpec(fraction=0.0125, epochs=10), StageSpec(fraction=0.125, epochs=10)]
REPEAT_STAGE = StageSpec(fraction=0.125, epochs=10)  # Section II-A: 10 × 12.5% × 10 epochs
WARM_START_STAGES = [StageSpec(fraction=0.5, epochs=50)]  # Section III


@METHODS.register("original")
def original(arm: ArmSpec) -> Plan:
    """No pre-training; `preprocess_epochs` full-data epochs before main, as the paper's code."""
    if arm.stages:
        raise ValueError(f"arms.{arm.name}.stages: method 'original' takes no stages")
    return Plan(stages=[], preprocess_epochs=arm.preprocess_epochs)


@METHODS.register("smart_init")
def smart_init(arm: ArmSpec) -> Plan:
    """The paper's Method 1: short training on small fresh uniform samples, resetting each time."""
    return Plan(stages=list(arm.stages or SMART_INIT_STAGES))


@METHODS.register("repeat")
def repeat(arm: ArmSpec) -> Plan:
    """One stage repeated `times` times, each on a new sample (Section II-A)."""
    stage = (arm.stages or [REPEAT_STAGE])[0]
    if arm.stages and len(arm.stages) != 1:
        raise ValueError(f"arms.{arm.name}.stages: method 'repeat' takes exactly one stage")
    return Plan(stages=[stage] * (arm.times or 10))


@METHODS.register("warm_start")
def warm_start(arm: ArmSpec) -> Plan:
    """One long stage on a large sample, as Ash & Adams' warm start (Section III)."""
    return Plan(stages=list(arm.stages or WARM_START_STAGES))


@METHODS.register("shrink_perturb")
def shrink_perturb(arm: ArmSpec) -> Plan:
    """Warm start, then every parameter becomes shrink·p + perturb·q, q from a fresh init."""

    def apply(model: nn.Module, fresh: nn.Module) -> None:
        import torch

        fresh_state = fresh.state_dict()
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.mul_(arm.shrink).add_(fresh_state[name].to(param.device), alpha=arm.perturb)
            for name, buffer in model.named_buffers():
                buffer.copy_(fresh_state[name].to(buffer.device))

    return Plan(stages=list(arm.stages or WARM_START_STAGES), after_stages=apply)


def plan_for(arm: ArmSpec) -> Plan:
    """The plan of an arm, built by its registered method, with the arm's `reset`."""
    plan = METHODS.get(arm.method)(arm)
    if arm.reset:
        return plan
    if not plan.stages:
        raise ValueError(
            f"arms.{arm.name}.reset: false needs stages to carry the optimiser on from; method"
            f" {arm.method!r} has none"
        )
    if plan.after_stages is not None:
        raise ValueError(
            f"arms.{arm.name}.reset: false does not fit method {arm.method!r}: it rewrites the"
            " weights after its stages, so their optimiser state no longer matches them"
        )
    return replace(plan, reset=False)
