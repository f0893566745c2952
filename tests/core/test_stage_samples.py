"""The sample a stage trains on (core.training.phases.stage_sample): its size, and that it depends
on the
experiment's seed, the repeat and the stage alone, so every arm of a repeat draws the same one."""

from __future__ import annotations

import pytest
import torch

from core.spec import ExperimentSpec
from core.training.phases import Phase, stage_sample
from tests.core.conftest import tiny_spec


def stage(index: int, fraction: float) -> Phase:
    return Phase(f"stage-{index + 1}", index, 1, 0.1, 8, 0.9, fraction)


def draw(spec: ExperimentSpec, repeat: int = 0, index: int = 0, n: int = 1000) -> list[int]:
    return stage_sample(spec, repeat, stage(index, 0.25), n).tolist()


@pytest.mark.parametrize("fraction, n, size", [(0.001, 100, 2), (0.001, 1, 1), (0.5, 3, 2),
                                               (0.04, 100, 4), (1.0, 7, 7)])
def test_a_stage_sample_holds_round_fraction_n_but_at_least_two_and_at_most_n(
    fraction: float, n: int, size: int
) -> None:
    # Two at least: a batch of one example cannot train BatchNorm.
    sample = stage_sample(tiny_spec(), 0, stage(0, fraction), n).tolist()
    assert len(sample) == len(set(sample)) == size
    assert set(sample) <= set(range(n))


def test_the_sample_ignores_the_global_random_state() -> None:
    # Arms consume the global stream differently (their init schemes, their earlier stages):
    # the sample must not depend on it, or the arms of a repeat would train on other examples.
    spec = tiny_spec()
    torch.manual_seed(1)
    first = draw(spec, 1, 1)
    torch.manual_seed(2)
    torch.rand(5)
    assert draw(spec, 1, 1) == first


def test_the_sample_is_new_for_each_seed_repeat_and_stage() -> None:
    spec, other_seed = tiny_spec(), tiny_spec(seed=1)
    base = draw(spec, repeat=0, index=0)
    assert draw(spec, repeat=0, index=0) == base
    for other in (draw(other_seed, 0, 0), draw(spec, 1, 0), draw(spec, 0, 1)):
        assert set(other) != set(base)
