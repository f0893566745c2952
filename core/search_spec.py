"""The `search:` block of a spec: which arm's schedule to calibrate, over what space, on what
budget, with which Optuna sampler and pruner, and how the winners are confirmed.

Only the block's own shape is checked here (keys, ranges, top <= trials); what needs the rest of
the spec (the arm, the budget against the main phase) is core.search.space.check_search.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# The schedule fields a search may vary, with their kind and hard limits.
# stages.growth: each later stage's fraction is the one before times growth (the paper: 10).
# reset: the arm's reset (a fresh optimiser and schedule per phase, or carried on); choices only.
SPACE_KEYS: dict[str, tuple[type, float, float]] = {
    "stages.count": (int, 1, 50),
    "stages.fraction": (float, 1e-6, 1.0),
    "stages.epochs": (int, 1, 10_000),
    "stages.growth": (float, 1.0, 1000.0),
    "reset": (bool, 0, 1),
}
MAX_TRIALS = 1000
MAX_GRID_POINTS = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Dimension(_Strict):
    """One searched field: a range [low, high] (log-scaled with `log`), or a list of choices."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None

    def is_range(self) -> bool:
        return self.choices is None


def _dimension(value: Any) -> Any:
    """The YAML forms: [low, high]; {log: [low, high]}; {range: [low, high]}; {choices: [...]};
    a list of anything but two numbers is a list of choices."""
    if isinstance(value, Dimension):
        return value
    stored = {"low", "high", "log", "choices"}
    if isinstance(value, dict) and set(value) & {"low", "choices"} and set(value) <= stored:
        return value  # the stored form, as model_dump writes it
    if isinstance(value, dict) and set(value) in ({"log"}, {"range"}):
        key = next(iter(value))
        bounds = value[key]
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise ValueError(f"{key}: give [low, high], got {bounds!r}")
        return {"low": bounds[0], "high": bounds[1], "log": key == "log"}
    if isinstance(value, dict) and set(value) == {"choices"}:
        return {"choices": value["choices"]}
    if isinstance(value, list):
        numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if len(value) == 2 and numbers:
            return {"low": value[0], "high": value[1]}
        return {"choices": value}
    raise ValueError(
        f"{value!r} is not a range or choices; valid forms: [low, high], {{log: [low, high]}},"
        " {choices: [a, b, ...]}"
    )


def _check_dimension(key: str, dim: Dimension) -> None:
    kind, lowest, highest = SPACE_KEYS[key]
    if kind is bool:
        choices = dim.choices or []
        if not choices or not all(isinstance(v, bool) for v in choices):
            raise ValueError(f"{key}: give choices of true and false, e.g. [true, false]")
        return
    if dim.choices is not None:
        if not dim.choices:
            raise ValueError(f"{key}: the list of choices is empty")
        for value in dim.choices:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or (kind is int and float(value) != int(value)):
                raise ValueError(f"{key}: choice {value!r} is not {kind.__name__}")
            if not lowest <= value <= highest:
                raise ValueError(f"{key}: choice {value!r} is outside [{lowest:g}, {highest:g}]")
        return
    low, high = dim.low, dim.high
    assert low is not None and high is not None
    if kind is int and (low != int(low) or high != int(high)):
        raise ValueError(f"{key}: range [{low:g}, {high:g}] needs integer bounds")
    if low > high:
        raise ValueError(f"{key}: range [{low:g}, {high:g}] is inverted (low > high)")
    if low == high:
        raise ValueError(f"{key}: range [{low:g}, {high:g}] is empty; give low < high or one"
                         " choice")
    if low < lowest or high > highest:
        raise ValueError(f"{key}: range [{low:g}, {high:g}] leaves [{lowest:g}, {highest:g}]")
    if dim.log and low <= 0:
        raise ValueError(f"{key}: a log range needs low > 0, got {low:g}")


class BudgetSpec(_Strict):
    """How many trials, and how much pre-training a schedule may cost."""

    trials: int = Field(20, ge=1, le=MAX_TRIALS, description="trials that run (pruned count)")
    preprocess_share: float = Field(
        0.10,
        gt=0,
        le=100,
        description="stages' examples <= this share of the baseline's main-phase examples",
    )


class PruningSpec(_Strict):
    """Successive halving (Optuna's SuccessiveHalvingPruner) on the paired difference so far."""

    enabled: bool = True
    min_epochs: int = Field(1, ge=1, le=10_000, description="main epochs before the first rung")
    reduction: int = Field(3, ge=2, le=100, description="keep 1/reduction at each rung")


class ConfirmSpec(_Strict):
    """The top schedules run again on a new seed against the baseline and the paper default."""

    # At most 18: with the baseline and the paper's default that makes MAX_ARMS (20) arms.
    top: int = Field(3, ge=1, le=18, description="schedules confirmed, the best first")
    repeats: int = Field(10, ge=2, le=1000)
    stop_when_decided: bool = True


class SearchSpec(_Strict):
    """A calibration search over one smart_init arm's stage schedule."""

    arm: str = Field(min_length=1, max_length=64, description="the arm whose schedule is searched")
    space: dict[str, Dimension] = Field(min_length=1)
    budget: BudgetSpec = BudgetSpec()
    sampler: Literal["tpe", "random", "grid"] = "tpe"
    seed: int | None = Field(None, ge=0, le=2**31 - 1, description="sampler seed (spec's seed)")
    parallel: int = Field(
        2, ge=1, le=64, description="trials in flight; trial k sees the trials up to k-parallel"
    )
    pruning: PruningSpec = PruningSpec()
    confirm: ConfirmSpec = ConfirmSpec()

    @field_validator("space", mode="before")
    @classmethod
    def _read_space(cls, space: Any) -> Any:
        if not isinstance(space, dict):
            return space
        out = {}
        for key, value in space.items():
            if key not in SPACE_KEYS:
                raise ValueError(
                    f"{key!r} is not a schedule field; valid choices: {', '.join(SPACE_KEYS)}"
                )
            try:
                out[key] = _dimension(value)
            except ValueError as error:
                raise ValueError(f"{key}: {error}") from None
        return out

    @model_validator(mode="after")
    def _check(self) -> SearchSpec:
        for key, dim in self.space.items():
            try:
                _check_dimension(key, dim)
            except ValueError as error:
                raise ValueError(f"space.{error}") from None
        if self.confirm.top > self.budget.trials:
            raise ValueError(
                f"confirm.top: {self.confirm.top} is larger than budget.trials"
                f" {self.budget.trials}; confirm at most as many schedules as are tried"
            )
        if self.sampler == "grid":
            self._check_grid()
        return self

    def _check_grid(self) -> None:
        for key, dim in self.space.items():
            if dim.is_range() and SPACE_KEYS[key][0] is not int:
                raise ValueError(
                    f"space.{key}: the grid sampler needs choices or an integer range, got a float"
                    " range"
                )
        points = math.prod(len(grid_values(key, dim)) for key, dim in self.space.items())
        if points > MAX_GRID_POINTS:
            raise ValueError(f"space: the grid has {points} points; the limit is "
                             f"{MAX_GRID_POINTS}")
        if self.budget.trials > points:
            raise ValueError(f"budget.trials: {self.budget.trials} is more than the grid's"
                             f" {points} points")


def grid_values(key: str, dim: Dimension) -> list[Any]:
    """The values of one dimension on a grid: its choices, or every integer of its range."""
    if dim.choices is not None:
        return list(dim.choices)
    assert dim.low is not None and dim.high is not None
    return list(range(int(dim.low), int(dim.high) + 1))
