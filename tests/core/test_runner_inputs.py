"""What a run starts from and how it ends, as core.training.runner hands it over: the device (CUDA
refused where there is none), the data set (read under the data root, drawn with the
experiment's seed, moved to the device) and the errors run_single raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.data.base import Dataset
from core.spec import ExperimentSpec
from core.training.runner import (
    RunCancelled,
    TrainingError,
    load_run_data,
    resolve_device,
    run_single,
    to_device,
)
from tests.core.conftest import tiny_spec

ONE_EPOCH = {"epochs": 1, "batch_size": 64}


def original_spec(**overrides: Any) -> ExperimentSpec:
    """One `original` arm `a`, one epoch: the quickest run there is."""
    return tiny_spec(arms=[{"name": "a", "method": "original"}], training=ONE_EPOCH, **overrides)


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_cuda_run_is_refused_where_there_is_no_cuda(
    monkeypatch: pytest.MonkeyPatch, digits_small: Dataset, device: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    message = f"device '{device}' requested but CUDA is not available here"
    with pytest.raises(TrainingError, match=message):
        run_single(original_spec(), "a", 0, dataset=digits_small, device=device)


def test_cuda_devices_are_taken_where_cuda_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")


def tensors_of(data: Dataset) -> list[torch.Tensor]:
    splits = [s for s in (data.train, data.val, data.test) if s is not None]
    return [t for s in splits for t in (s.images, s.labels)]


def test_to_device_moves_every_split_and_keeps_absent_ones_absent(digits_small: Dataset) -> None:
    # The meta device stands in for a GPU: a tensor left behind stays on the CPU.
    moved = to_device(digits_small, torch.device("meta"))
    assert [t.device.type for t in tensors_of(moved)] == ["meta"] * 6
    assert [(t.dtype, t.shape) for t in tensors_of(moved)] == [
        (t.dtype, t.shape) for t in tensors_of(digits_small)
    ]
    same = to_device(digits_small, torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(tensors_of(same), tensors_of(digits_small),
                                                 strict=True))
    no_test = Dataset(digits_small.train, None, None, 10, digits_small.mean, digits_small.std)
    moved = to_device(no_test, torch.device("meta"))
    assert (moved.val, moved.test) == (None, None)
    assert moved.train.images.device.type == "meta"


def test_load_run_data_moves_the_data_set_to_the_training_device() -> None:
    data = load_run_data(original_spec(), None, "meta")
    assert [t.device.type for t in tensors_of(data)] == ["meta"] * 6


def write_npz(folder: Path) -> None:
    """40 training and 10 test 8×8 grey images of 2 classes, no validation set."""
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 256, (n, 8, 8), dtype=np.uint8)  # noqa: E731
    labels = lambda n: np.arange(n) % 2  # noqa: E731
    np.savez(folder / "mine.npz", x_train=images(40), y_train=labels(40), x_test=images(10),
             y_test=labels(10))


def npz_spec(seed: int = 0) -> ExperimentSpec:
    return original_spec(dataset={"name": "npz", "root": "mine.npz"}, seed=seed)


def test_the_data_set_is_read_under_the_data_root(tmp_path: Path) -> None:
    write_npz(tmp_path)
    data = load_run_data(npz_spec(), str(tmp_path), "cpu")
    assert (len(data.train), data.num_classes) == (36, 2)
    result = run_single(npz_spec(), "a", 0, data_root=str(tmp_path))
    assert result.status == "done"
    assert {row["examples"] for row in result.metrics if row["split"] == "train"} == {36}


def held_out(data: Dataset) -> torch.Tensor:
    assert data.val is not None
    return data.val.images


def test_the_experiments_seed_draws_the_held_out_validation_set(tmp_path: Path) -> None:
    write_npz(tmp_path)
    first, again, other = (load_run_data(npz_spec(seed), str(tmp_path), "cpu")
                           for seed in (1, 1, 2))
    assert torch.equal(held_out(first), held_out(again))
    assert not torch.equal(held_out(first), held_out(other))


def test_a_cancelled_run_raises_run_cancelled_naming_the_run(digits_small: Dataset) -> None:
    with pytest.raises(RunCancelled, match=r"^run a/1 cancelled$"):
        run_single(original_spec(), "a", 1, dataset=digits_small, should_stop=lambda: True)

