"""Data sets in pickled and array archives: Downsampled ImageNet (pickle, npz), CIFAR-10's
python pickles, and the unpickler that admits only numpy arrays."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from core.data import DataError, load_dataset
from core.data.safe_pickle import load_pickle
from tests.core.data_writers import (
    make_images,
    planar_rows,
    write_cifar,
    write_imagenet_batch,
)

# ---------------------------------------------------------------- Downsampled ImageNet


@pytest.mark.parametrize("form", ["pickle", "npz", "npz_compressed"])
def test_downsampled_imagenet_decodes_planar_rgb_and_shifts_labels(
    tmp_path: Path, form: str
) -> None:
    images = [make_images(3, 16, 0), make_images(4, 16, 50)]
    for k, (batch, labels) in zip(
        (2, 7), zip(images, ([1, 1000, 17], [2, 3, 4, 999]), strict=True), strict=True
    ):
        suffix = "" if form == "pickle" else ".npz"
        write_imagenet_batch(
            tmp_path / f"train_data_batch_{k}{suffix}",
            batch,
            labels,
            npz=form != "pickle",
            compressed=form == "npz_compressed",
        )
    write_imagenet_batch(tmp_path / "val_data", make_images(2, 16, 9), [1, 2])
    dataset = load_dataset("downsampled_imagenet", tmp_path, image_size=16)
    expected = torch.from_numpy(np.concatenate(images))
    assert torch.equal(dataset.train.images, expected)
    assert dataset.train.labels.tolist() == [0, 999, 16, 1, 2, 3, 998]
    assert dataset.val is not None and dataset.val.labels.tolist() == [0, 1]
    assert dataset.test is None and dataset.num_classes == 1000
    assert dataset.mean == (0.485, 0.456, 0.406) and dataset.std == (0.229, 0.224, 0.225)
    # A known pixel: image 0, green plane, row 1, column 2 is (18·2 + 40) % 256.
    assert int(dataset.train.images[0, 1, 1, 2]) == (18 * 2 + 40) % 256


def test_downsampled_imagenet_infers_size_and_holds_out_val_without_val_data(
    tmp_path: Path,
) -> None:
    write_imagenet_batch(tmp_path / "train_data_batch_1", make_images(10, 32), [3] * 10)
    dataset = load_dataset("downsampled_imagenet", tmp_path, val_fraction=0.2)
    assert dataset.image_size == 32 and len(dataset.train) == 8
    assert dataset.val is not None and len(dataset.val) == 2


@pytest.mark.parametrize(
    "problem, match",
    [
        ("size_mismatch", "image_size 32 needs"),
        ("bad_size", "not valid for downsampled_imagenet"),
        ("label_zero", r"labels must lie in 1\.\.1000"),
        ("no_batches", "no train_data_batch_1"),
        ("object_npz", "object arrays"),
        ("missing_key", "missing key"),
    ],
)
def test_downsampled_imagenet_refuses_malformed_folders(
    tmp_path: Path, problem: str, match: str
) -> None:
    batch = tmp_path / "train_data_batch_1"
    size = {"size_mismatch": 32, "bad_size": 48}.get(problem, 16)
    if problem == "label_zero":
        write_imagenet_batch(batch, make_images(2, 16), [0, 1])
    elif problem == "object_npz":
        np.savez(batch, data=np.array([b"x", 1], dtype=object), labels=np.array([1]))
    elif problem == "missing_key":
        batch.write_bytes(pickle.dumps({"data": planar_rows(make_images(1, 16))}, protocol=3))
    elif problem != "no_batches":
        write_imagenet_batch(batch, make_images(2, 16), [1, 2])
    with pytest.raises(DataError, match=match):
        load_dataset("downsampled_imagenet", tmp_path, image_size=size)


# ---------------------------------------------------------------- CIFAR-10


def test_cifar10_reads_python2_pickles_and_holds_out_ten_percent(tmp_path: Path) -> None:
    train_images, train_labels = write_cifar(tmp_path)
    dataset = load_dataset("cifar10", tmp_path, seed=0)
    assert dataset.val is not None and dataset.test is not None
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (45, 5, 10)
    both = torch.cat([dataset.train.images, dataset.val.images])
    both_labels = torch.cat([dataset.train.labels, dataset.val.labels])
    order = sorted(range(50), key=lambda i: bytes(both[i].flatten().tolist()))
    expect = sorted(range(50), key=lambda i: bytes(train_images[i].flatten().tolist()))
    assert torch.equal(both[order], torch.from_numpy(train_images[expect]))
    assert both_labels[order].tolist() == train_labels[expect].tolist()
    assert dataset.mean == (0.4914, 0.4822, 0.4465) and dataset.std == (0.2023, 0.1994, 0.2010)
    same = load_dataset("cifar10", tmp_path / "cifar-10-batches-py", seed=0)  # folder itself
    assert torch.equal(same.val.images, dataset.val.images)  # type: ignore[union-attr]
    other = load_dataset("cifar10", tmp_path, seed=5)
    assert not torch.equal(other.val.images, dataset.val.images)  # type: ignore[union-attr]


def test_cifar10_names_a_missing_batch(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match="data_batch_3.*missing"):
        load_dataset("cifar10", tmp_path)


# ---------------------------------------------------------------- untrusted pickles


class Evil:
    """Loading this with plain pickle would run a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize(
    "dataset, filename",
    [("downsampled_imagenet", "train_data_batch_1"), ("cifar10", "data_batch_1")],
)
def test_a_pickle_naming_a_foreign_global_is_refused_and_never_runs(
    tmp_path: Path, dataset: str, filename: str
) -> None:
    marker = tmp_path / "pwned"
    if dataset == "cifar10":
        write_cifar(tmp_path)
    path = tmp_path / ("cifar-10-batches-py" if dataset == "cifar10" else "") / filename
    path.write_bytes(pickle.dumps({"data": Evil(marker), "labels": [1]}, protocol=2))
    with pytest.raises(DataError, match=r"forbidden global (posix|os|nt)\.system; refused") as err:
        load_dataset(dataset, tmp_path)
    assert filename in str(err.value)
    assert not marker.exists()


def test_truncated_and_non_dict_pickles_are_data_errors(tmp_path: Path) -> None:
    whole = pickle.dumps({"data": planar_rows(make_images(2, 16)), "labels": [1, 2]}, protocol=3)
    (tmp_path / "train_data_batch_1").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="train_data_batch_1: truncated or corrupt"):
        load_dataset("downsampled_imagenet", tmp_path)
    (tmp_path / "list.pkl").write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(DataError, match="expected a pickled dict"):
        load_pickle(tmp_path / "list.pkl")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_safe_pickle_reads_numpy_arrays_of_every_protocol(tmp_path: Path, protocol: int) -> None:
    array = np.arange(12, dtype=np.uint8).reshape(2, 6)
    data = {b"data": array, "n": np.int64(3), "l": [1]}
    (tmp_path / "p").write_bytes(pickle.dumps(data, protocol=protocol))
    loaded = load_pickle(tmp_path / "p")
    assert set(loaded) == {"data", "n", "l"} and int(loaded["n"]) == 3
    assert np.array_equal(loaded["data"], array)
