"""Downsampled ImageNet (Chrabaszcz, Loshchilov & Hutter 2017): Imagenet16/32/64.

As published (PatrykChrabaszcz/Imagenet32_Scripts): `train_data_batch_1` … `_10` and `val_data`,
each a Python-3 pickle of a dict with `data` uint8 (N, 3·S·S), the R plane then G then B, each
row-major; `labels` ints 1..1000 in ILSVRC devkit `map_clsloc.txt` order; train files also carry
`mean`. The `.npz` releases hold the same keys. There is no test set: ImageNetV2 serves as one.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.base import DataError, Dataset, Split
from core.data.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataOptions,
    hold_out,
    int_labels,
    planar_images,
    require_root,
    side_from_width,
)
from core.data.registry import DATASETS
from core.data.safe_pickle import load_pickle

VALID_SIZES = (16, 32, 64)
NUM_CLASSES = 1000
TRAIN_BATCHES = 10


def batch_file(root: Path, stem: str) -> Path | None:
    """`stem.npz` if present (no pickle needed), else the pickle `stem`, else None."""
    for candidate in (root / f"{stem}.npz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def read_batch(path: Path) -> dict[str, Any]:
    """The dict in one batch file, pickle or npz."""
    if path.suffix != ".npz":
        return load_pickle(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {key: npz[key] for key in npz.files}
    except ValueError as error:  # object arrays need pickle, which we refuse
        raise DataError(f"{path}: npz holds object arrays or is malformed ({error}); "
                        "refused") from None
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: truncated or corrupt npz ({error})") from None


def _batch(path: Path, side: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    batch = read_batch(path)
    missing = [key for key in ("data", "labels") if key not in batch]
    if missing:
        raise DataError(f"{path}: missing key(s) {', '.join(missing)}")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.ndim != 2:
        raise DataError(f"{path}: 'data' must be a 2-D uint8 array")
    if side is None:
        side = side_from_width(data.shape[1], path)
        if side not in VALID_SIZES:
            raise DataError(f"{path}: images are {side}×{side}; downsampled_imagenet supports "
                            f"{', '.join(map(str, VALID_SIZES))}")
    images = planar_images(data, side, path)
    labels = int_labels(batch["labels"], images.shape[0], 1, NUM_CLASSES, path) - 1
    return images, labels


def _capacity(path: Path, width: int) -> int:
    """An upper bound on the images in a file, read without loading it."""
    size = path.stat().st_size  # a pickle's pixels alone take N·width bytes
    if path.suffix == ".npz":
        try:  # npz members may be compressed: use data.npy's uncompressed size
            with zipfile.ZipFile(path) as archive:
                size = archive.getinfo("data.npy").file_size
        except (KeyError, OSError, zipfile.BadZipFile):
            pass  # read_batch reports the real problem
    return size // width + 1


def load_batches(paths: list[Path], side: int | None) -> Split:
    """Concatenate batch files into one Split, copying each once into a preallocated tensor.

    The full sets are 1–16 GB, so no list-then-concatenate (twice the memory): file sizes give
    an upper bound on the count, the bound is allocated once and the result is its prefix.
    """
    first = _batch(paths[0], side)
    side = int(first[0].shape[-1])
    capacity = first[0].shape[0] + sum(_capacity(p, 3 * side * side) for p in paths[1:])
    images = torch.empty((capacity, 3, side, side), dtype=torch.uint8)
    labels = torch.empty(capacity, dtype=torch.int64)
    count = 0
    pending: tuple[torch.Tensor, torch.Tensor] | None = first
    del first  # so the first batch is freed once copied
    for path in paths:
        batch_images, batch_labels = pending if pending is not None else _batch(path, side)
        pending = None
        end = count + batch_images.shape[0]
        if end > capacity:  # cannot happen for well-formed files; never write past the end
            raise DataError(f"{path}: holds more images than its size allows; malformed")
        images[count:end] = batch_images
        labels[count:end] = batch_labels
        count = end
        del batch_images, batch_labels  # free this file before reading the next
    return Split(images[:count], labels[:count])


@DATASETS.register("downsampled_imagenet")
def load_downsampled_imagenet(root: Path | None, opts: DataOptions) -> Dataset:
    """Any present subset of the ten train batches (at least one) and val_data as 'val'."""
    root = require_root(root, "downsampled_imagenet")
    if opts.image_size is not None and opts.image_size not in VALID_SIZES:
        raise DataError(f"image_size {opts.image_size} is not valid for downsampled_imagenet; "
                        f"valid choices: {', '.join(map(str, VALID_SIZES))}")
    found = [batch_file(root, f"train_data_batch_{i}") for i in range(1, TRAIN_BATCHES + 1)]
    train_paths = [p for p in found if p is not None]
    if not train_paths:
        raise DataError(f"{root}: no train_data_batch_1 … train_data_batch_{TRAIN_BATCHES} "
                        "(pickle or .npz) found")
    train = load_batches(train_paths, opts.image_size)
    val_path = batch_file(root, "val_data")
    if val_path is not None:
        val = load_batches([val_path], train.images.shape[-1])
    else:  # a partial copy without val_data: hold some training images out instead
        train, val = hold_out(train, opts.val_fraction, opts.seed)
    return Dataset(train, val, None, NUM_CLASSES, IMAGENET_MEAN, IMAGENET_STD)
