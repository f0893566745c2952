"""A run's initial network, the splits each phase measures and the result it reports
(core/training/member.py)."""

import pytest
import torch

from core.data.base import Dataset
from core.spec import ExperimentSpec
from core.training.member import Member, RunHooks, arm_initial_model
from core.training.phases import initial_model, state_fingerprint
from core.training.runner import run_single
from tests.core.conftest import tiny_spec

RESULT_KEYS = {
    "arm",
    "repeat",
    "seed",
    "init_fingerprint",
    "status",
    "wall_seconds",
    "metrics",
    "precision",
    "deterministic",
    "param_count",
}


def schemed(init: str, **overrides: object) -> ExperimentSpec:
    """A one-arm spec (shrink_perturb: it draws a fresh network too) with init scheme `init`."""
    arm = {
        "name": "x",
        "method": "shrink_perturb",
        "init": init,
        "stages": [{"fraction": 0.5, "epochs": 1}],
    }
    return tiny_spec(arms=[arm], training={"epochs": 1, "batch_size": 64}, **overrides)


def drawn(spec: ExperimentSpec, repeat: int, data: Dataset, purpose: str) -> str:
    return state_fingerprint(arm_initial_model(spec, spec.arms[0], repeat, data, purpose))


@pytest.mark.parametrize("init", ["pytorch", "orthogonal"])
def test_initial_networks_differ_by_purpose_repeat_and_seed(
    digits_small: Dataset, init: str
) -> None:
    # A scheme redraws every conv/linear weight from its own generator: that generator must
    # depend on the seed, the repeat and the purpose as the base network does, or shrink_perturb
    # would perturb towards its own initial network and repeats (seeds) would share weights.
    spec = schemed(init)
    init_0 = drawn(spec, 0, digits_small, "init")
    assert init_0 == drawn(spec, 0, digits_small, "init")  # a draw, not noise
    assert drawn(spec, 0, digits_small, "fresh") != init_0
    assert drawn(spec, 1, digits_small, "init") != init_0
    assert drawn(schemed(init, seed=1), 0, digits_small, "init") != init_0


def test_lsuv_calibrates_on_the_inputs_the_run_trains_on(digits_small: Dataset) -> None:
    # LSUV scales each layer to unit output variance on a batch of the run's own data,
    # normalised or raw (0..255) as the spec says: the two give different weights.
    standard = schemed("lsuv")
    raw = schemed("lsuv", dataset={"name": "digits", "normalize": "none"})
    assert drawn(standard, 0, digits_small, "init") != drawn(raw, 0, digits_small, "init")
    base = initial_model(standard, 0, digits_small.num_classes, "init")
    assert drawn(standard, 0, digits_small, "init") != state_fingerprint(base)


def test_a_run_starts_from_the_arms_init_network(digits_small: Dataset) -> None:
    # Tools and tests rebuild a run's initial network with arm_initial_model(..., "init").
    spec = schemed("orthogonal")
    result = run_single(spec, "x", 1, dataset=digits_small)
    assert result.init_fingerprint == drawn(spec, 1, digits_small, "init")


def test_a_member_keeps_its_network_on_the_runs_device_in_channels_last(
    digits_small: Dataset,
) -> None:
    # "meta" stands for an accelerator: a network left on the CPU would not be moved later.
    member = Member(
        schemed("pytorch"),
        schemed("pytorch").arms[0],
        RunHooks(0),
        digits_small,
        torch.device("meta"),
    )
    assert {p.device.type for p in member.model.parameters()} == {"meta"}
    convs = [p for p in member.model.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    assert not convs[0].is_contiguous()  # channels_last is a real change of layout here


def test_each_phase_measures_its_own_splits(digits_small: Dataset) -> None:
    # Stages measure `stage_splits`, preprocess the same with the whole train set as its
    # sample, main always train, val and test.
    spec = tiny_spec(stage_splits=["sample"], training={"epochs": 1, "batch_size": 64})
    measured: dict[str, set[str]] = {}
    for arm in ("original", "repeat"):
        for row in run_single(spec, arm, 0, dataset=digits_small).metrics:
            measured.setdefault(row["phase"], set()).add(row["split"])
    assert measured == {
        "stage-1": {"sample"},
        "stage-2": {"sample"},  # `repeat` runs its stage twice
        "preprocess": {"train"},
        "main": {"train", "val", "test"},
    }


def test_the_result_reports_the_run_and_how_it_was_trained(digits_small: Dataset) -> None:
    spec = tiny_spec(
        seed=7, training={"epochs": 1, "batch_size": 64, "precision": "bf16", "deterministic": True}
    )
    result = run_single(spec, "smart", 1, dataset=digits_small)
    record = result.to_json()
    assert record.keys() == RESULT_KEYS  # no error key for a run that has none
    model = initial_model(spec, 1, digits_small.num_classes, "init")
    assert (record["arm"], record["repeat"], record["seed"]) == ("smart", 1, 7)
    assert (record["status"], record["precision"], record["deterministic"]) == (
        "done",
        "bf16",
        True,
    )
    assert record["param_count"] == sum(p.numel() for p in model.parameters()) > 0
    assert record["init_fingerprint"] == result.init_fingerprint
    assert record["wall_seconds"].keys() == {"preprocess", "stage-1", "stage-2", "main"}
    assert record["metrics"] == result.metrics and len(record["metrics"]) == 3 * (3 + 3 + 1)
