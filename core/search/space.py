"""A trial's parameters as a stage schedule, and the budget every schedule must keep."""

from __future__ import annotations

from typing import Any

from core.methods import SMART_INIT_STAGES
from core.search_spec import SPACE_KEYS, SearchSpec
from core.spec import ArmSpec, ExperimentSpec, SpecError, StageSpec


def defaults(arm: ArmSpec) -> dict[str, Any]:
    """The unsearched fields, from the arm's own stages (the paper's default without any)."""
    stages = arm.stages or SMART_INIT_STAGES
    growth = stages[1].fraction / stages[0].fraction if len(stages) > 1 else 1.0
    return {
        "stages.count": len(stages),
        "stages.fraction": stages[0].fraction,
        "stages.epochs": stages[0].epochs,
        "stages.growth": max(1.0, growth),
        "reset": arm.reset,
    }


def schedule(params: dict[str, Any], arm: ArmSpec) -> list[StageSpec]:
    """The stages a trial's parameters stand for; unsearched fields keep the arm's values."""
    values = defaults(arm) | params
    first = (arm.stages or [StageSpec(fraction=1.0, epochs=1)])[0]
    overrides = {"lr": first.lr, "batch_size": first.batch_size, "lr_decay": first.lr_decay}
    fraction, growth = float(values["stages.fraction"]), float(values["stages.growth"])
    return [
        StageSpec(
            fraction=min(1.0, fraction * growth**index),
            epochs=int(values["stages.epochs"]),
            **overrides,
        )
        for index in range(int(values["stages.count"]))
    ]


def searched_arm(params: dict[str, Any], arm: ArmSpec) -> ArmSpec:
    """The arm a trial's parameters stand for: its schedule and its reset."""
    reset = bool((defaults(arm) | params)["reset"])
    return arm.model_copy(update={"stages": schedule(params, arm), "reset": reset})


def stage_share(stages: list[StageSpec], main_epochs: int) -> float:
    """The stages' examples as a share of the baseline's main-phase examples (N cancels)."""
    return sum(stage.fraction * stage.epochs for stage in stages) / main_epochs


def fits(params: dict[str, Any], spec: ExperimentSpec) -> bool:
    """Whether a trial's schedule keeps the search's preprocess budget."""
    assert spec.search is not None
    stages = schedule(params, spec.arm(spec.search.arm))
    return stage_share(stages, spec.training.epochs) <= spec.search.budget.preprocess_share


def smallest(search: SearchSpec) -> dict[str, Any]:
    """Each searched schedule field at its least costly value (the share grows with every
    one; `reset` costs nothing and is left out)."""
    out: dict[str, Any] = {}
    for key, dim in search.space.items():
        if SPACE_KEYS[key][0] is bool:
            continue
        low = min(dim.choices) if dim.choices is not None else dim.low
        out[key] = int(low) if SPACE_KEYS[key][0] is int else low  # type: ignore[arg-type]
    return out


def check_search(spec: ExperimentSpec) -> None:
    """Raise SpecError when no schedule of the space fits the budget."""
    if spec.search is None:
        return
    least = smallest(spec.search)
    stages = schedule(least, spec.arm(spec.search.arm))
    share = stage_share(stages, spec.training.epochs)
    budget = spec.search.budget.preprocess_share
    if share > budget:
        shown = ", ".join(f"{key} {value:g}" for key, value in least.items())
        raise SpecError(
            [
                f"search.budget.preprocess_share: {budget:g} fits no schedule of the space: the"
                f" smallest ({shown}) trains on {share:.4g} of the baseline's main-phase examples"
            ]
        )
