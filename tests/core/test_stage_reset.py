"""`reset: false` on an arm: each phase after the first stage carries on the previous phase's
optimiser state and learning-rate schedule instead of starting fresh (the paper resets them)."""

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from core.data.base import Dataset
from core.methods import plan_for
from core.spec import ArmSpec, ExperimentSpec
from core.training.runner import RunCancelled, RunResult, run_single
from tests.core.conftest import tiny_spec


def reset_spec(lr_decay: float = 0.5) -> ExperimentSpec:
    stages = [{"fraction": 0.1, "epochs": 2}, {"fraction": 0.3, "epochs": 2}]
    arms = [
        {"name": "fresh", "method": "smart_init", "stages": stages},
        {"name": "carried", "method": "smart_init", "stages": stages, "reset": False},
    ]
    training = {"epochs": 2, "batch_size": 32, "lr": 0.004, "lr_decay": lr_decay}
    return tiny_spec(arms=arms, training=training, repeats=1)


@pytest.fixture(scope="module")
def decaying(digits_small: Dataset) -> dict[str, RunResult]:
    """Both arms trained once with lr_decay 0.5, for the tests that compare with them."""
    spec = reset_spec()
    return {arm: run_single(spec, arm, 0, dataset=digits_small) for arm in ("fresh", "carried")}


def by_epoch(rows: list[dict[str, Any]], field: str) -> dict[tuple[str, int], Any]:
    return {
        (r["phase"], r["epoch"]): r[field]
        for r in rows
        if r["split"] == "sample" or (r["phase"] == "main" and r["split"] == "val")
    }


def test_without_reset_the_schedule_carries_on_through_later_stages_and_main(
    decaying: dict[str, RunResult],
) -> None:
    fresh, carried = (by_epoch(decaying[arm].metrics, "lr") for arm in ("fresh", "carried"))
    assert [fresh[k] for k in [("stage-2", 1), ("stage-2", 2), ("main", 1)]] == pytest.approx(
        [0.004, 0.002, 0.004]
    )
    # Stage 1 steps 0.004 -> 0.002 -> 0.001; stage 2 and main go on decaying from there.
    assert [
        carried[k]
        for k in [("stage-1", 1), ("stage-2", 1), ("stage-2", 2), ("main", 1), ("main", 2)]
    ] == pytest.approx([0.004, 0.001, 0.0005, 0.00025, 0.000125])


def test_without_reset_the_optimiser_state_carries_on(digits_small: Dataset) -> None:
    """With a constant learning rate only Adam's moments differ: the first stage is the same,
    the second is not."""
    spec = reset_spec(lr_decay=1.0)
    fresh = by_epoch(run_single(spec, "fresh", 0, dataset=digits_small).metrics, "loss")
    carried = by_epoch(run_single(spec, "carried", 0, dataset=digits_small).metrics, "loss")
    assert [fresh[("stage-1", e)] for e in (0, 1, 2)] == [
        carried[("stage-1", e)] for e in (0, 1, 2)
    ]
    assert fresh[("stage-2", 0)] == carried[("stage-2", 0)]  # measured before any step
    assert fresh[("stage-2", 1)] != carried[("stage-2", 1)]
    assert fresh[("main", 2)] != carried[("main", 2)]


# Between two stages (the next one carries the loaded optimiser on), and within main.
@pytest.mark.parametrize("stop_after", [("stage-1", 2), ("main", 1)])
def test_a_run_without_reset_resumes_from_a_checkpoint_as_if_never_stopped(
    stop_after: tuple[str, int],
    decaying: dict[str, RunResult],
    digits_small: Dataset,
    tmp_path: Path,
) -> None:
    whole = decaying["carried"]
    checkpoint = tmp_path / "run.pt"
    run = partial(
        run_single, reset_spec(), "carried", 0, dataset=digits_small, checkpoint_path=checkpoint
    )
    last: list[tuple[str, int]] = []
    with pytest.raises(RunCancelled):
        run(
            on_progress=lambda phase, epoch, _: last.append((phase, epoch)),
            should_stop=lambda: stop_after in last,
        )
    trained: list[tuple[str, int]] = []
    resumed = run(on_progress=lambda phase, epoch, _: trained.append((phase, epoch)))
    order = list(dict.fromkeys((r["phase"], r["epoch"]) for r in whole.metrics))
    assert trained == order[order.index(last[-1]) + 1 :]  # from the checkpoint on, no more
    key = ("phase", "epoch", "split", "loss", "accuracy", "lr", "examples_total")
    assert [tuple(r[k] for k in key) for r in resumed.metrics] == [
        tuple(r[k] for k in key) for r in whole.metrics
    ]


@pytest.mark.parametrize(
    ("arm", "line"),
    [
        (
            {"method": "original"},
            "arms.a.reset: false needs stages to carry the optimiser on from;"
            " method 'original' has none",
        ),
        (
            {"method": "shrink_perturb"},
            "arms.a.reset: false does not fit method 'shrink_perturb':"
            " it rewrites the weights after its stages, so their optimiser state no longer matches"
            " them",
        ),
    ],
)
def test_reset_false_is_refused_where_nothing_could_carry_on(
    arm: dict[str, Any], line: str
) -> None:
    with pytest.raises(ValueError) as caught:
        plan_for(ArmSpec(name="a", reset=False, **arm))
    assert str(caught.value) == line
    assert plan_for(ArmSpec(name="a", **arm)).reset  # the default: the paper's reset
