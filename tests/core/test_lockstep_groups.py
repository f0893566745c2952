"""Which repeats of an arm train together in lockstep (core.training.runner.lockstep_groups,
run_group).

Runs at the same position whose model stacks train as one group; a model that cannot stack
trains every run alone; a lone run is never probed for stacking.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import pytest
from torch import nn

import core.training.runner
from core.data.base import Dataset
from core.models.small_cnn import SmallCNN
from core.training.member import Position
from core.training.runner import RunHooks, lockstep_groups, run_group
from tests.core.conftest import tiny_spec

FRESH = Position(0, 0, False)
RESUMED = Position(2, 1, False, saved_phase=1)  # a run resumed from its checkpoint


def members_of(models: list[nn.Module]) -> list[Any]:
    """Stand-ins for core.training.member.Member: lockstep_groups reads their `model` only."""
    return [SimpleNamespace(model=model) for model in models]


def with_dropout() -> nn.Module:
    """A network that cannot stack: Dropout2d drops whole channel maps (nn.Dropout stacks)."""
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Dropout2d(0.5),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


def test_runs_at_the_same_position_train_together_and_the_others_apart() -> None:
    members = members_of([SmallCNN(), SmallCNN(), SmallCNN()])
    groups = lockstep_groups(members, [FRESH, RESUMED, FRESH], 8)
    assert groups == [([members[0], members[2]], [FRESH, FRESH]), ([members[1]], [RESUMED])]


def test_a_model_that_cannot_stack_trains_every_run_alone() -> None:
    members = members_of([with_dropout(), with_dropout()])
    groups = lockstep_groups(members, [FRESH, FRESH], 8)
    assert groups == [([members[0]], [FRESH]), ([members[1]], [FRESH])]


def test_a_lone_run_is_not_probed_for_stacking(caplog: pytest.LogCaptureFixture) -> None:
    # A single run trains alone anyway: no "one by one" line in every lone run's log.
    members = members_of([with_dropout()])
    with caplog.at_level(logging.INFO):
        groups = lockstep_groups(members, [FRESH], 8)
    assert groups == [(members, [FRESH])]
    assert "one by one" not in caplog.text


class LockstepSpy:
    """Records the size of every lockstep group run_group trains."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sizes: list[int] = []
        real = core.training.runner.Lockstep

        def spy(members: list[Any], *args: Any) -> Any:
            self.sizes.append(len(members))
            return real(members, *args)

        monkeypatch.setattr(core.training.runner, "Lockstep", spy)


FIXED = "import:tests.core.own_models:fixed_size_net"  # takes 8×8 images only


def one_epoch_spec(model: str, size: int | None = None) -> Any:
    dataset: dict[str, Any] = {"name": "digits"} | ({"image_size": size} if size else {})
    return tiny_spec(model=model, dataset=dataset, arms=[{"name": "a", "method": "original"}],
                     training={"epochs": 1, "batch_size": 64})


def test_repeats_of_a_model_that_stacks_at_the_data_size_train_as_one_group(
    monkeypatch: pytest.MonkeyPatch, digits_small: Dataset
) -> None:
    # The stacking probe must use the data's image size: this model works at 8 px only.
    spy = LockstepSpy(monkeypatch)
    results = run_group(one_epoch_spec(FIXED), "a", [RunHooks(0), RunHooks(1)],
                        dataset=digits_small)
    assert [r.status for r in results] == ["done", "done"]
    assert spy.sizes == [2]


def test_a_model_that_cannot_take_the_images_fails_every_run_before_training(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = LockstepSpy(monkeypatch)
    spec = one_epoch_spec(FIXED, size=16)
    results = run_group(spec, "a", [RunHooks(0), RunHooks(1)])
    assert [r.status for r in results] == ["failed", "failed"]
    for result in results:
        assert result.error is not None
        assert f"model {FIXED!r} cannot take this data set's 3×16×16 images" in result.error
        assert result.metrics == []
    assert spy.sizes == []
