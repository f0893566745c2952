"""CIFAR-10 and CIFAR-100 in their Python releases (Krizhevsky 2009).

`cifar-10-batches-py/`: `data_batch_1..5` and `test_batch` are Python-2 pickles of dicts (read
with latin1): `data` uint8 (10000, 3072), the R plane then G then B of each 32×32 image; `labels`
0..9. `cifar-100-python/`: `train` (50,000) and `test` (10,000) in the same layout, with
`fine_labels` 0..99 (used here) and `coarse_labels` 0..19.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.data.base import DataError, Dataset, Split
from core.data.common import (
    DataOptions,
    channel_stats,
    hold_out,
    int_labels,
    planar_images,
    require_root,
)
from core.data.registry import DATASETS
from core.data.safe_pickle import load_pickle

# The paper's normalisation (Section IV), applied to train, val and test alike.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
SIDE = 32
NUM_CLASSES = 10
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR100_CLASSES = 100


def batches_folder(root: Path, folder: str = FOLDER) -> Path:
    """`root/<folder>` (cifar-10-batches-py by default) if it exists, else `root` itself."""
    nested = root / folder
    return nested if nested.is_dir() else root


def read_cifar_batch(path: Path, label_key: str = "labels") -> tuple[np.ndarray, np.ndarray]:
    """(data N×3072 uint8, labels under `label_key`) of one batch file."""
    if not path.is_file():
        raise DataError(f"{path}: CIFAR batch file is missing")
    batch = load_pickle(path, encoding="latin1")
    missing = [key for key in ("data", label_key) if key not in batch]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: 'data' must be a uint8 array")
    return data, np.asarray(batch[label_key])


def load_split(
    paths: list[Path], label_key: str = "labels", num_classes: int = NUM_CLASSES
) -> Split:
    """The concatenated images and labels of `paths`."""
    images, labels = [], []
    for path in paths:
        data, raw_labels = read_cifar_batch(path, label_key)
        images.append(planar_images(data, SIDE, path))
        labels.append(int_labels(raw_labels, len(data), 0, num_classes - 1, path))
    return Split(torch.cat(images), torch.cat(labels))


def check_side(name: str, opts: DataOptions) -> None:
    """CIFAR images are 32 px; refuse any other image_size."""
    if opts.image_size not in (None, SIDE):
        raise DataError(f"image_size {opts.image_size} is not valid for {name}; valid: {SIDE}")


@DATASETS.register("cifar10")
def load_cifar10(root: Path | None, opts: DataOptions) -> Dataset:
    """Train minus a seeded `val_fraction` (10%) held out as val; test_batch as test."""
    folder = batches_folder(require_root(root, "cifar10"))
    check_side("cifar10", opts)
    train, val = hold_out(
        load_split([folder / name for name in TRAIN_FILES]), opts.val_fraction, opts.seed
    )
    test = load_split([folder / "test_batch"])
    return Dataset(train, val, test, NUM_CLASSES, CIFAR_MEAN, CIFAR_STD)


@DATASETS.register("cifar100")
def load_cifar100(root: Path | None, opts: DataOptions) -> Dataset:
    """Fine labels (100 classes); train minus a seeded 10% as val; `test` as test."""
    folder = batches_folder(require_root(root, "cifar100"), CIFAR100_FOLDER)
    check_side("cifar100", opts)
    everything = load_split([folder / "train"], "fine_labels", CIFAR100_CLASSES)
    train, val = hold_out(everything, opts.val_fraction, opts.seed)
    test = load_split([folder / "test"], "fine_labels", CIFAR100_CLASSES)
    mean, std = channel_stats(train.images)  # no published normalisation: the training set's
    return Dataset(train, val, test, CIFAR100_CLASSES, mean, std)
