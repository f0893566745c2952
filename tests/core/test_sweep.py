"""Sweeps expand into validated specs; a bad path, value or size is refused by name."""

from __future__ import annotations

import pytest

from core.paper.presets import get_preset
from core.spec import MAX_SWEEP_EXPERIMENTS, ExperimentSpec, SpecError, parse_spec
from core.sweep import expand_sweep, sweep_size, swept_values


def with_sweep(sweep: dict[str, list[object]] | None, name: str = "table1-32") -> ExperimentSpec:
    data = get_preset(name).model_dump(mode="json", exclude_none=True)
    data["sweep"] = sweep
    return parse_spec(data)


def test_cartesian_product_in_order_with_named_validated_children() -> None:
    spec = with_sweep(
        {"arms.1.stages.0.fraction": [0.01, 0.02], "training.lr_decay": [0.9, 0.925, 1]}
    )
    children = expand_sweep(spec)
    assert sweep_size(spec) == len(children) == 6
    got = [(c.arms[1].stages[0].fraction, c.training.lr_decay) for c in children]  # type: ignore[index]
    assert got == [(0.01, 0.9), (0.01, 0.925), (0.01, 1.0), (0.02, 0.9), (0.02, 0.925), (0.02, 1.0)]
    assert all(isinstance(c, ExperimentSpec) and c.sweep is None for c in children)
    assert children[0].name == 'table1-32 {"arms.1.stages.0.fraction":0.01,"training.lr_decay":0.9}'
    assert len({c.name for c in children}) == 6
    # Everything not swept is the parent's.
    assert all(c.repeats == 4 and c.arms[1].stages[1].fraction == 0.125 for c in children)  # type: ignore[index]


def test_swept_values_reads_the_assignment_back() -> None:
    children = expand_sweep(with_sweep({"training.lr_decay": [0.9, 1], "repeats": [2]}))
    assert [swept_values(c) for c in children] == [
        {"training.lr_decay": 0.9, "repeats": 2},
        {"training.lr_decay": 1.0, "repeats": 2},
    ]
    assert swept_values(get_preset("table1-32")) == {}


def test_no_sweep_gives_the_spec_itself() -> None:
    spec = get_preset("demo-digits")
    assert expand_sweep(spec) == [spec]
    assert expand_sweep(with_sweep({}, "demo-digits")) == [spec]


@pytest.mark.parametrize(
    "sweep, expected",
    [
        ({"training.lr_decy": [0.9]}, ["sweep.training.lr_decy", "'lr_decy'", "lr_decay"]),
        ({"arms.7.name": ["x"]}, ["sweep.arms.7.name", "0..1"]),
        ({"arms.0.stages.0.fraction": [0.1]}, ["sweep.arms.0.stages.0.fraction", "None"]),
        ({"training.lr.x": [1]}, ["sweep.training.lr.x", "'x'"]),
        ({"sweep": [None]}, ["sweep.sweep", "cannot be swept"]),
        ({"training..lr": [1]}, ["sweep.training..lr", "dotted field path"]),
        ({"training.lr_decay": []}, ["sweep.training.lr_decay", "at least one value"]),
        ({"training.lr_decay": [0.9, 0.9]}, ["sweep.training.lr_decay", "repeat", "0.9"]),
    ],
)
def test_bad_paths_are_named(sweep: dict[str, list[object]], expected: list[str]) -> None:
    with pytest.raises(SpecError) as error:
        expand_sweep(with_sweep(sweep))
    for text in expected:
        assert text in str(error.value)


@pytest.mark.parametrize(
    "sweep, expected",
    [
        ({"training.lr_decay": [0.9, 1.5]}, ["training.lr_decay=1.5", "less than or equal to 1"]),
        ({"arms.1.stages.0.fraction": [0]}, ["arms.1.stages.0.fraction", "greater than 0"]),
        ({"model": ["resnet"]}, ["model", "'resnet'", "mobilenet_v1"]),
        ({"arms.1.name": ["original"]}, ["arms.1.name", "duplicate arm names: original"]),
    ],
)
def test_bad_values_are_named(sweep: dict[str, list[object]], expected: list[str]) -> None:
    with pytest.raises(SpecError) as error:
        expand_sweep(with_sweep(sweep))
    for text in expected:
        assert text in str(error.value)


def test_more_experiments_than_the_limit_are_refused() -> None:
    side = int(MAX_SWEEP_EXPERIMENTS**0.5) + 1
    sweep = {"repeats": list(range(1, side + 1)), "seed": list(range(side))}
    with pytest.raises(SpecError) as error:
        expand_sweep(with_sweep(sweep))
    assert str(MAX_SWEEP_EXPERIMENTS) in str(error.value)
    assert str(side * side) in str(error.value)
    at_limit = {"seed": list(range(MAX_SWEEP_EXPERIMENTS))}
    assert len(expand_sweep(with_sweep(at_limit, "demo-digits"))) == MAX_SWEEP_EXPERIMENTS
