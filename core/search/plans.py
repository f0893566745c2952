"""The experiments a search queues: its shared baseline, each trial, and the confirmation of
the best trials on a new seed against the baseline and the paper's default schedule."""

from __future__ import annotations

from typing import Any

from core.methods import SMART_INIT_STAGES
from core.search.objective import direction
from core.search.space import searched_arm
from core.search.study import StoredTrial, trial_seed
from core.spec import ArmSpec, ExperimentSpec, parse_spec

PAPER_DEFAULT = "paper-default"
NAME_LIMIT = 200  # ExperimentSpec.name's max_length


def child_spec(
    spec: ExperimentSpec, suffix: str, arms: list[ArmSpec], **changes: Any
) -> ExperimentSpec:
    """A plain experiment (no search block) of the search's model, data and training; the
    first arm is its baseline."""
    data = spec.model_dump(mode="json", exclude_none=True)
    name = f"{spec.name[: NAME_LIMIT - len(suffix) - 3]} · {suffix}"
    data.update(name=name, arms=[a.model_dump(mode="json", exclude_none=True) for a in arms],
                baseline=arms[0].name, search=None, **changes)
    return parse_spec(data)


def baseline_spec(spec: ExperimentSpec) -> ExperimentSpec:
    """The baseline arm alone, on the search's seed and repeats."""
    assert spec.baseline is not None
    return child_spec(spec, "baseline", [spec.arm(spec.baseline)])


def trial_spec(spec: ExperimentSpec, number: int, params: dict[str, Any]) -> ExperimentSpec:
    """The searched arm with trial `number`'s parameters, on the search's seed and repeats."""
    assert spec.search is not None
    return child_spec(spec, f"trial {number}", [searched_arm(params, spec.arm(spec.search.arm))])


def top_trials(spec: ExperimentSpec, trials: list[StoredTrial]) -> list[StoredTrial]:
    """The best completed trials by the search's estimate, best first (ties: the earlier)."""
    assert spec.search is not None
    sign = 1 if direction(spec) == "minimize" else -1
    complete = [t for t in trials if t.state == "complete" and t.value is not None]
    complete.sort(key=lambda t: (sign * float(t.value or 0), t.number))
    return complete[: spec.search.confirm.top]


def confirm_seed(spec: ExperimentSpec) -> int:
    """A seed the search never used: new initial weights, stage samples and data order."""
    seed = trial_seed(spec.seed, -1) % (2**31 - 1)
    return seed if seed != spec.seed else seed + 1


def trial_arm(number: int) -> str:
    return f"trial-{number}"


def confirmation_spec(spec: ExperimentSpec, top: list[StoredTrial]) -> ExperimentSpec:
    """The top schedules against the baseline and the paper's default, on a new seed, with the
    confirm block's repeats and stop_when_decided (the sequential decision)."""
    assert spec.search is not None and spec.baseline is not None
    searched = spec.arm(spec.search.arm)
    paper = searched.model_copy(
        update={"name": PAPER_DEFAULT, "stages": list(SMART_INIT_STAGES), "reset": True}
    )
    arms = [spec.arm(spec.baseline), paper]
    for trial in top:
        arm = searched_arm(trial.params, searched)
        arms.append(arm.model_copy(update={"name": trial_arm(trial.number)}))
    confirm = spec.search.confirm
    return child_spec(
        spec, "confirmation", arms, seed=confirm_seed(spec), repeats=confirm.repeats,
        stop_when_decided=confirm.stop_when_decided,
    )
