"""Optuna's samplers and pruner, asked and told through a study rebuilt from stored trials.

Why rebuild rather than keep Optuna's RDB storage in InitLab's database: the store stays the one
source of truth (a trial's state, value and runs change in the same transactions as the runs),
and a rebuilt study makes every decision a function of stored data alone. Trial k is sampled and
pruned with the trials numbered up to k - parallel, which must have finished before k is asked
(the in-flight ones in between are shown to the sampler as running, their values hidden), and
with a sampler seeded from (seed, k). So the same seed gives the same trials whatever the
workers' timing, and a coordinator killed at any moment and started again asks nothing twice
and decides nothing differently.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState

from core.search.objective import direction
from core.search_spec import SPACE_KEYS, SearchSpec, grid_values
from core.spec import ExperimentSpec

optuna.logging.set_verbosity(logging.WARNING)  # one line per trial is the coordinator's to log

FINISHED = ("complete", "pruned", "over_budget", "failed")
RUNG = "completed_rung_"  # the SuccessiveHalvingPruner's own record of a trial's rung values


@dataclass(frozen=True)
class StoredTrial:
    """A trial as the store keeps it."""

    number: int
    params: dict[str, Any]
    state: str  # running | complete | pruned | over_budget | failed
    value: float | None = None
    intermediate: dict[int, float] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)


def distributions(search: SearchSpec) -> dict[str, BaseDistribution]:
    """Each searched field as an Optuna distribution."""
    out: dict[str, BaseDistribution] = {}
    for key, dim in search.space.items():
        if dim.choices is not None:
            out[key] = CategoricalDistribution(dim.choices)
        elif SPACE_KEYS[key][0] is int:
            out[key] = IntDistribution(int(dim.low or 0), int(dim.high or 0), log=dim.log)
        else:
            out[key] = FloatDistribution(float(dim.low or 0), float(dim.high or 0), log=dim.log)
    return out


def trial_seed(seed: int, number: int) -> int:
    """The sampler seed of trial `number`: the same stored history gives the same draw."""
    digest = hashlib.sha256(repr((seed, "search-trial", number)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _sampler(search: SearchSpec, seed: int) -> optuna.samplers.BaseSampler:
    if search.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    grid = {key: grid_values(key, dim) for key, dim in search.space.items()}
    return optuna.samplers.GridSampler(grid, seed=seed)


def _frozen(trial: StoredTrial, dists: dict[str, BaseDistribution], hide: bool) -> FrozenTrial:
    """The stored trial as Optuna's; `hide` shows it as running, without values or rungs."""
    attrs = {k: v for k, v in trial.system_attrs.items() if not (hide and k.startswith(RUNG))}
    params = {key: trial.params[key] for key in dists}
    if hide or trial.state == "running":
        state, value, steps = TrialState.RUNNING, None, {}
    elif trial.state == "complete":
        state, value, steps = TrialState.COMPLETE, trial.value, trial.intermediate
    elif trial.state in ("pruned", "over_budget"):
        # Over budget: pruned before its first step, which TPE ranks below every other trial.
        state, value, steps = TrialState.PRUNED, None, trial.intermediate
    else:
        state, value, steps = TrialState.FAIL, None, {}
    return optuna.trial.create_trial(
        state=state,
        value=value,
        params=params,
        distributions=dists,
        intermediate_values=dict(steps),
        system_attrs=attrs,
    )


def _study(spec: ExperimentSpec, sampler: optuna.samplers.BaseSampler,
           pruner: optuna.pruners.BasePruner | None = None) -> optuna.Study:
    return optuna.create_study(direction=direction(spec), sampler=sampler, pruner=pruner)


def can_ask(trials: list[StoredTrial], number: int, parallel: int) -> bool:
    """Whether trial `number` may be asked: every trial up to number - parallel has finished."""
    return all(t.state in FINISHED for t in trials if t.number <= number - parallel)


def ask(spec: ExperimentSpec, trials: list[StoredTrial], number: int) -> StoredTrial:
    """Trial `number`'s parameters from the sampler (state 'running'; the caller checks the
    budget), given the stored trials before it."""
    search = spec.search
    assert search is not None
    seed = search.seed if search.seed is not None else spec.seed
    dists = distributions(search)
    # The grid sampler shuffles its grid once from its seed and takes point k for trial k: it
    # keeps the search's seed. The others draw afresh per trial, from (seed, k).
    own = seed if search.sampler == "grid" else trial_seed(seed, number)
    study = _study(spec, _sampler(search, own))
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.number < number:
            study.add_trial(_frozen(trial, dists, hide=trial.number > number - search.parallel))
    asked = study.ask(dists)
    if asked.number != number:
        raise ValueError(f"trial {number} asked with {asked.number} trials stored before it")
    attrs = dict(study.trials[-1].system_attrs)
    return StoredTrial(number, dict(asked.params), "running", system_attrs=attrs)


def prune_replay(
    spec: ExperimentSpec, trials: list[StoredTrial], trial: StoredTrial, last_epoch: int
) -> tuple[int | None, dict[str, Any]]:
    """Report the trial's intermediate values in step order to Optuna's SuccessiveHalvingPruner,
    against the finished trials up to number - parallel; returns the step it was pruned at (or
    None) and its system attributes with the rung values it reached. The last epoch is never a
    pruning step: the trial has finished by then."""
    search = spec.search
    assert search is not None
    attrs = {k: v for k, v in trial.system_attrs.items() if not k.startswith(RUNG)}
    if not search.pruning.enabled:
        return None, attrs
    pruner = optuna.pruners.SuccessiveHalvingPruner(
        min_resource=search.pruning.min_epochs, reduction_factor=search.pruning.reduction
    )
    dists = distributions(search)
    study = _study(spec, optuna.samplers.RandomSampler(seed=0), pruner)
    for other in sorted(trials, key=lambda t: t.number):
        if other.number <= trial.number - search.parallel and other.state in FINISHED:
            study.add_trial(_frozen(other, dists, hide=False))
    study.enqueue_trial({key: trial.params[key] for key in dists})
    live = study.ask(dists)
    pruned_at = None
    for step, value in sorted(trial.intermediate.items()):
        if step >= last_epoch:
            break
        live.report(value, step)
        if live.should_prune():
            pruned_at = step
            break
    reached = study.trials[-1].system_attrs
    attrs |= {k: v for k, v in reached.items() if k.startswith(RUNG)}
    return pruned_at, attrs
