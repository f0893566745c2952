"""The pure parts of a calibration search (core/search): the spec's bad inputs, schedules and
the budget, the equal-compute objective, and the Optuna study rebuilt from stored trials
(same seed same trials, whatever the timing, and after a restart from the stored form).

The service tests (tests/service/test_searches.py) run real searches on digits; here the
trials' values come from a fixed landscape over the parameters, so that the sampler and pruner
plumbing is checked over many trials in a fraction of a second.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from core.search.objective import final_value, intermediate
from core.search.plans import (
    PAPER_DEFAULT,
    confirm_seed,
    confirmation_spec,
    top_trials,
    trial_spec,
)
from core.search.space import check_search, fits, schedule, stage_share
from core.search.study import FINISHED, StoredTrial, ask, can_ask, prune_replay
from core.spec import ExperimentSpec, SpecError, parse_spec

SPEC: dict[str, Any] = {
    "name": "calibrate",
    "model": "small_cnn",
    "dataset": {"name": "digits"},
    "training": {"epochs": 6},
    "arms": [{"name": "original", "method": "original"}, {"name": "smart", "method": "smart_init"}],
    "repeats": 2,
    "seed": 3,
    "search": {
        "arm": "smart",
        "space": {"stages.count": [1, 3], "stages.fraction": {"log": [0.005, 0.25]},
                  "stages.epochs": [1, 10], "stages.growth": {"choices": [1, 10]}},
        "budget": {"trials": 12, "preprocess_share": 0.5},
        "sampler": "tpe",
        "parallel": 2,
        "pruning": {"min_epochs": 1, "reduction": 3},
        "confirm": {"top": 3, "repeats": 10},
    },
}


def spec_with(**search: Any) -> ExperimentSpec:
    data = copy.deepcopy(SPEC)
    data["search"] |= search
    return parse_spec(data)


def errors_of(**search: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        check_search(spec_with(**search))
    return caught.value.errors


@pytest.mark.parametrize(("change", "line"), [
    ({"space": {"stages.dropout": [0, 1]}}, "search.space: 'stages.dropout' is not a schedule"
     " field; valid choices: stages.count, stages.fraction, stages.epochs, stages.growth,"
     " reset"),
    ({"space": {"reset": [0, 1]}},
     "search: space.reset: give choices of true and false, e.g. [true, false]"),
    ({"space": {"stages.count": [3, 1]}},
     "search: space.stages.count: range [3, 1] is inverted (low > high)"),
    ({"space": {"stages.epochs": [2, 2]}},
     "search: space.stages.epochs: range [2, 2] is empty; give low < high or one choice"),
    ({"space": {"stages.count": [1.5, 3]}},
     "search: space.stages.count: range [1.5, 3] needs integer bounds"),
    ({"space": {"stages.fraction": [0.1, 2]}},
     "search: space.stages.fraction: range [0.1, 2] leaves [1e-06, 1]"),
    ({"space": {"stages.fraction": {"log": [0, 0.5]}}},
     "search: space.stages.fraction: range [0, 0.5] leaves [1e-06, 1]"),
    ({"space": {"stages.count": {"choices": [1, "two"]}}},
     "search: space.stages.count: choice 'two' is not int"),
    ({"space": {"stages.count": {"choices": []}}},
     "search: space.stages.count: the list of choices is empty"),
    ({"confirm": {"top": 13}}, "search: confirm.top: 13 is larger than budget.trials 12;"
     " confirm at most as many schedules as are tried"),
    ({"sampler": "grid", "space": {"stages.count": [1, 3]}},
     "search: budget.trials: 12 is more than the grid's 3 points"),
    ({"sampler": "bayes"}, "search.sampler: Input should be 'tpe', 'random' or 'grid'"
     " (got 'bayes')"),
    ({"arm": "original"}, "spec: search.arm: 'original' is the baseline; search another arm"),
])
def test_every_bad_search_block_is_one_line_naming_it(change: dict[str, Any], line: str) -> None:
    data = copy.deepcopy(SPEC)
    data["search"] |= change
    with pytest.raises(SpecError) as caught:
        parse_spec(data)
    assert caught.value.errors == [line]


def test_an_arm_that_is_not_smart_init_and_a_sweep_beside_a_search_are_refused() -> None:
    data = copy.deepcopy(SPEC)
    data["arms"].append({"name": "warm", "method": "warm_start"})
    data["search"]["arm"] = "warm"
    with pytest.raises(SpecError, match="'warm' is method 'warm_start'; only smart_init"
                       " schedules are searched; valid choices: smart"):
        parse_spec(data)
    data = copy.deepcopy(SPEC) | {"sweep": {"training.lr": [0.1, 0.01]}}
    with pytest.raises(SpecError, match="a spec takes a sweep or a search, not both"):
        parse_spec(data)


def test_a_budget_no_schedule_fits_names_the_cheapest_schedule() -> None:
    assert errors_of(budget={"trials": 12, "preprocess_share": 0.0005}) == [
        "search.budget.preprocess_share: 0.0005 fits no schedule of the space: the smallest"
        " (stages.count 1, stages.fraction 0.005, stages.epochs 1, stages.growth 1) trains on"
        " 0.0008333 of the baseline's main-phase examples"
    ]


def test_the_stored_form_reads_back_as_the_same_spec() -> None:
    spec = spec_with()
    again = parse_spec(json.loads(spec.model_dump_json(exclude_none=True)))
    assert again == spec


def test_a_schedule_keeps_unsearched_fields_of_the_arm_and_counts_its_share() -> None:
    spec = spec_with(space={"stages.epochs": [1, 10]},
                     budget={"trials": 12, "preprocess_share": 0.1})
    arm = spec.arm("smart")  # no stages: the paper's 1.25% then 12.5%, growth 10
    stages = schedule({"stages.epochs": 4}, arm)
    assert [(s.fraction, s.epochs) for s in stages] == [(0.0125, 4), (0.125, 4)]
    assert stage_share(stages, 6) == pytest.approx((0.0125 + 0.125) * 4 / 6)
    capped = schedule({"stages.count": 3, "stages.fraction": 0.2, "stages.growth": 10}, arm)
    assert [s.fraction for s in capped] == [0.2, 1.0, 1.0]  # never more than the whole set
    assert fits({"stages.epochs": 4}, spec) and not fits({"stages.epochs": 10}, spec)


# --- the study ---------------------------------------------------------------------------


def landscape(params: dict[str, Any], step: int) -> float:
    """A fixed paired difference over the schedule, shrinking with the epoch: best near
    fraction 0.05, two stages, few epochs."""
    fraction, count = params["stages.fraction"], params["stages.count"]
    shape = (math.log(fraction / 0.05)) ** 2 + 0.3 * abs(count - 2) + 0.02 * params["stages.epochs"]
    return shape - 1.0 + 1.0 / step


def stored_form(trial: StoredTrial) -> StoredTrial:
    """The trial as it comes back from the store's JSON columns."""
    data = json.loads(json.dumps({"params": trial.params, "system_attrs": trial.system_attrs,
                                  "intermediate": {str(k): v for k, v in
                                                   trial.intermediate.items()}}))
    return StoredTrial(trial.number, data["params"], trial.state, trial.value,
                       {int(k): v for k, v in data["intermediate"].items()}, data["system_attrs"])


def finish(spec: ExperimentSpec, trials: list[StoredTrial], trial: StoredTrial) -> StoredTrial:
    """Judge a trial as the coordinator does once all its epochs are in."""
    epochs = spec.training.epochs
    steps = {e: landscape(trial.params, e) for e in range(1, epochs + 1)}
    running = StoredTrial(trial.number, trial.params, "running", None, steps, trial.system_attrs)
    pruned_at, attrs = prune_replay(spec, trials, running, epochs)
    if pruned_at is not None:
        kept = {e: v for e, v in steps.items() if e <= pruned_at}
        return StoredTrial(trial.number, trial.params, "pruned", steps[pruned_at], kept, attrs)
    return StoredTrial(trial.number, trial.params, "complete", steps[epochs], steps, attrs)


def simulate(spec: ExperimentSpec, lag: int, restart_every: int = 0) -> list[StoredTrial]:
    """A search whose trials finish `lag` passes after they start (the workers' timing); with
    `restart_every`, the state is dropped and re-read from its stored form that often."""
    assert spec.search is not None
    trials: list[StoredTrial] = []
    started: dict[int, int] = {}
    passes = 0
    while sum(t.state != "over_budget" for t in trials) < spec.search.budget.trials or any(
        t.state not in FINISHED for t in trials
    ):
        passes += 1
        if restart_every and passes % restart_every == 0:
            trials = [stored_form(t) for t in trials]
        for index, trial in enumerate(trials):
            if trial.state == "running" and passes - started[trial.number] >= lag:
                trials[index] = finish(spec, trials, trial)
        ran = sum(t.state != "over_budget" for t in trials)
        while ran < spec.search.budget.trials and can_ask(trials, len(trials),
                                                          spec.search.parallel):
            asked = ask(spec, trials, len(trials))
            if not fits(asked.params, spec):
                asked = StoredTrial(asked.number, asked.params, "over_budget",
                                    system_attrs=asked.system_attrs)
            else:
                started[asked.number], ran = passes, ran + 1
            trials.append(asked)
    return trials


def outcome(trials: list[StoredTrial]) -> list[tuple[Any, ...]]:
    return [(t.number, t.state, t.params, t.value) for t in trials]


def test_same_seed_same_trials_whatever_the_timing_and_after_restarts() -> None:
    spec = spec_with()
    first = simulate(spec, lag=1)
    assert sum(t.state != "over_budget" for t in first) == 12
    assert {"complete", "pruned"} <= {t.state for t in first}  # the pruner did decide
    assert outcome(simulate(spec, lag=3)) == outcome(first)
    assert outcome(simulate(spec, lag=2, restart_every=2)) == outcome(first)
    other = simulate(spec_with(seed=99), lag=1)
    assert [t.params for t in other] != [t.params for t in first]


@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_random_and_grid_samplers_are_as_deterministic(sampler: str) -> None:
    space = {"stages.count": [1, 3], "stages.epochs": [1, 4],
             "stages.fraction": {"choices": [0.01, 0.05, 0.2]}}
    spec = spec_with(sampler=sampler, space=space)
    first = simulate(spec, lag=1)
    assert outcome(simulate(spec, lag=2, restart_every=3)) == outcome(first)
    if sampler == "grid":  # every grid point once: no repeats among the trials
        points = [tuple(sorted(t.params.items())) for t in first]
        assert len(points) == len(set(points))


def test_over_budget_draws_are_never_run_and_do_not_count_as_trials() -> None:
    spec = spec_with(budget={"trials": 12, "preprocess_share": 0.05})
    trials = simulate(spec, lag=1)
    over = [t for t in trials if t.state == "over_budget"]
    assert over and all(not fits(t.params, spec) for t in over)
    assert sum(t.state != "over_budget" for t in trials) == 12


# --- the objective -----------------------------------------------------------------------


def run(examples_before_main: int, losses: list[float], status: str = "done") -> dict[str, Any]:
    """A run record: main epochs of 100 examples each, after `examples_before_main`."""
    rows = [{"phase": "main", "epoch": e, "split": "val", "loss": loss, "accuracy": 0.5,
             "examples": 100, "examples_total": examples_before_main + 100 * e}
            for e, loss in enumerate(losses, start=1)]
    return {"arm": "x", "repeat": 0, "status": status, "metrics": rows}


def test_each_trial_epoch_is_compared_with_the_baseline_at_equal_examples() -> None:
    spec = spec_with()
    base = {0: run(0, [2.0, 1.5, 1.2, 1.0]), 1: run(0, [2.2, 1.6, 1.3, 1.1])}
    # 150 examples of stages: epoch 1 (250) meets the baseline's epoch 3 (300), epoch 2 (350)
    # its epoch 4 (400), epochs 3-4 only the baseline's last.
    trial = {0: run(150, [1.4, 1.1, 0.7, 0.6]), 1: run(150, [1.5, 1.2, 0.8, 0.7])}
    steps = intermediate(trial, base, spec)
    assert steps[1] == pytest.approx(((1.4 - 1.2) + (1.5 - 1.3)) / 2)
    assert steps[2] == pytest.approx(((1.1 - 1.0) + (1.2 - 1.1)) / 2)
    assert steps[4] == pytest.approx(((0.6 - 1.0) + (0.7 - 1.1)) / 2)
    # Final, as the summary's equal compute reads it: the trial at the baseline's final 400
    # examples, halfway between its epochs 2 (350) and 3 (450), against the baseline's epoch 4.
    halfway = {0: (1.1 + 0.7) / 2, 1: (1.2 + 0.8) / 2}
    assert final_value(trial, base, spec) == pytest.approx(
        ((halfway[0] - 1.0) + (halfway[1] - 1.1)) / 2
    )


def test_an_epoch_waits_while_the_baseline_may_still_reach_it() -> None:
    spec = spec_with()
    base = {0: run(0, [2.0, 1.5], status="running")}
    trial = {0: run(150, [1.4, 1.1])}
    assert intermediate(trial, base, spec) == {}  # 250 examples: the baseline's epoch 3 is due
    assert final_value({0: trial[0], 1: trial[0]}, base, spec) is None  # a repeat is missing


# --- confirmation ------------------------------------------------------------------------


def test_the_confirmation_takes_the_best_trials_on_a_new_seed_against_the_paper_default() -> None:
    spec = spec_with(confirm={"top": 2, "repeats": 8, "stop_when_decided": True})
    trials = [StoredTrial(0, {"stages.count": 1, "stages.fraction": 0.05, "stages.epochs": 2,
                              "stages.growth": 1}, "complete", -0.1),
              StoredTrial(1, {"stages.count": 2, "stages.fraction": 0.01, "stages.epochs": 1,
                              "stages.growth": 10}, "complete", -0.3),
              StoredTrial(2, {"stages.count": 1, "stages.fraction": 0.2, "stages.epochs": 1,
                              "stages.growth": 1}, "pruned", -0.9),
              StoredTrial(3, {"stages.count": 3, "stages.fraction": 0.01, "stages.epochs": 1,
                              "stages.growth": 1}, "complete", 0.2)]
    assert [t.number for t in top_trials(spec, trials)] == [1, 0]  # pruned ones never confirm
    confirm = confirmation_spec(spec, top_trials(spec, trials))
    assert [a.name for a in confirm.arms] == ["original", PAPER_DEFAULT, "trial-1", "trial-0"]
    assert confirm.seed == confirm_seed(spec) != spec.seed
    assert confirm.repeats == 8 and confirm.stop_when_decided and confirm.search is None
    assert [(s.fraction, s.epochs) for s in confirm.arm("trial-1").stages or []] == [
        (0.01, 1), (0.1, 1)
    ]


def test_a_searched_reset_reaches_the_trial_and_its_confirmation_but_not_the_paper_default(
) -> None:
    spec = spec_with(space={"reset": [True, False], "stages.epochs": [1, 3]},
                     confirm={"top": 1, "repeats": 4})
    params = {"reset": False, "stages.epochs": 2}
    assert not trial_spec(spec, 0, params).arm("smart").reset
    assert trial_spec(spec, 1, {"reset": True, "stages.epochs": 2}).arm("smart").reset
    confirm = confirmation_spec(spec, [StoredTrial(0, params, "complete", -0.2)])
    assert not confirm.arm("trial-0").reset and confirm.arm(PAPER_DEFAULT).reset
    assert [(s.fraction, s.epochs) for s in confirm.arm("trial-0").stages or []] == [
        (0.0125, 2), (0.125, 2)
    ]
    assert parse_spec(json.loads(spec.model_dump_json())) == spec  # the stored form reads back


def test_the_example_search_in_docs_is_valid_and_fits_its_budget() -> None:
    from core.spec import load_spec

    spec = load_spec(Path(__file__).resolve().parents[2] / "docs" / "example-search.yaml")
    check_search(spec)
    assert spec.search is not None and spec.search.budget.trials == 16


def test_initlab_run_refuses_a_search_and_names_the_command_that_runs_it(tmp_path: Path) -> None:
    from tests.core.test_cli_run import initlab

    result = initlab("run", "docs/example-search.yaml", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "initlab: error: search: a calibration search runs on the service: `initlab search"
        " docs/example-search.yaml` (the coordinator queues its trials)"
    )
    assert not (tmp_path / "out").exists()
