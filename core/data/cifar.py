"""CIFAR-10 in its Python release: `cifar-10-batches-py/` (Krizhevsky 2009).

`data_batch_1..5` and `test_batch` are Python-2 pickles of dicts (read with latin1): `data` uint8
(10000, 3072), the R plane then G then B of each 32×32 image; `labels` 0..9.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.data import DATASETS
from core.data.base import DataError, Dataset, Split
from core.data.common import DataOptions, hold_out, int_labels, planar_images, require_root
from core.data.safe_pickle import load_pickle

# The paper's normalisation (Section IV), applied to train, val and test alike.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)
SIDE = 32
NUM_CLASSES = 10
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
FOLDER = "cifar-10-batches-py"


def batches_folder(root: Path) -> Path:
    """`root/cifar-10-batches-py` if it exists, else `root` itself."""
    nested = root / FOLDER
    return nested if nested.is_dir() else root


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(data N×3072 uint8, labels) of one batch file."""
    if not path.is_file():
        raise DataError(f"{path}: CIFAR-10 batch file is missing")
    batch = load_pickle(path, encoding="latin1")
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray):
        raise DataError(f"{path}: 'data' must be a uint8 array")
    return data, np.asarray(batch["labels"])


def load_split(paths: list[Path]) -> Split:
    """The concatenated images and labels of `paths`."""
    images, labels = [], []
    for path in paths:
        data, raw_labels = read_cifar_batch(path)
        images.append(planar_images(data, SIDE, path))
        labels.append(int_labels(raw_labels, len(data), 0, NUM_CLASSES - 1, path))
    return Split(torch.cat(images), torch.cat(labels))


@DATASETS.register("cifar10")
def load_cifar10(root: Path | None, opts: DataOptions) -> Dataset:
    """Train minus a seeded `val_fraction` (10%) held out as val; test_batch as test."""
    folder = batches_folder(require_root(root, "cifar10"))
    if opts.image_size not in (None, SIDE):
        raise DataError(f"image_size {opts.image_size} is not valid for cifar10; valid: {SIDE}")
    train, val = hold_out(
        load_split([folder / name for name in TRAIN_FILES]), opts.val_fraction, opts.seed
    )
    test = load_split([folder / "test_batch"])
    return Dataset(train, val, test, NUM_CLASSES, CIFAR_MEAN, CIFAR_STD)
