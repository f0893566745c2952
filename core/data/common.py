"""What the loaders share: options, planar-RGB decoding, seeded hold-out and subsetting."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.data.base import DataError, Dataset, Split

# torchvision's ImageNet statistics; Downsampled ImageNet and ImageNetV2 share them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class DataOptions:
    """Everything a loader may be asked for; each loader reads only what applies to it."""

    image_size: int | None = None  # side in pixels; None: the data set's own
    val_fraction: float = 0.1  # held out of train where the data set has no val split
    limit_train: int | None = None  # keep only this many training images (seeded choice)
    seed: int = 0  # hold-out, limit_train and synthetic generation
    num_classes: int = 10  # synthetic only
    num_train: int = 512  # synthetic only
    test: str | None = None  # "imagenetv2": replace the test split with ImageNetV2
    test_root: Path | None = None  # folder of the extra test set
    map_clsloc: Path | None = None  # ILSVRC map_clsloc.txt (imagenetv2)
    test_resample: str = "lanczos"  # imagenetv2 resize filter: lanczos (the paper's) or box


Loader = Callable[[Path | None, DataOptions], Dataset]

OPTION_NAMES = tuple(f.name for f in dataclasses.fields(DataOptions))


def make_options(**options: Any) -> DataOptions:
    """DataOptions from keyword options; unknown names and bad values are DataErrors."""
    unknown = sorted(set(options) - set(OPTION_NAMES))
    if unknown:
        raise DataError(
            f"unknown data option(s) {', '.join(unknown)}; valid choices: {', '.join(OPTION_NAMES)}"
        )
    for key in ("test_root", "map_clsloc"):
        if options.get(key) is not None:
            options[key] = Path(options[key])
    opts = DataOptions(**options)
    if not 0 < opts.val_fraction < 1:
        raise DataError(f"val_fraction must be in (0, 1), got {opts.val_fraction!r}")
    if opts.limit_train is not None and opts.limit_train < 1:
        raise DataError(f"limit_train must be at least 1, got {opts.limit_train!r}")
    if opts.image_size is not None and opts.image_size < 1:
        raise DataError(f"image_size must be positive, got {opts.image_size!r}")
    if opts.test not in (None, "imagenetv2"):
        raise DataError(f"unknown test set {opts.test!r}; valid choices: imagenetv2")
    return opts


def require_root(root: Path | None, name: str) -> Path:
    """`root` as an existing folder, or a DataError saying the data set needs one."""
    if root is None:
        raise DataError(f"dataset {name} needs a root folder (dataset.root)")
    if not root.is_dir():
        raise DataError(f"{root}: folder of dataset {name} does not exist")
    return root


def side_from_width(width: int, source: object) -> int:
    """Image side S of planar rows 3·S·S wide."""
    side = int(round((width / 3) ** 0.5))
    if side < 1 or 3 * side * side != width:
        raise DataError(f"{source}: rows of {width} values are not square RGB images (3·S·S)")
    return side


def planar_images(data: np.ndarray, side: int, source: object) -> torch.Tensor:
    """Rows of R plane, G plane, B plane (each row-major) as a uint8 N×3×S×S tensor (a view)."""
    if data.dtype != np.uint8 or data.ndim != 2:
        raise DataError(f"{source}: 'data' must be a uint8 N×{3 * side * side} array, "
                        f"got {data.dtype} {data.shape}")
    if data.shape[1] != 3 * side * side:
        raise DataError(f"{source}: rows are {data.shape[1]} values wide; image_size {side} "
                        f"needs 3·{side}·{side} = {3 * side * side}")
    # The planar layout is exactly N×3×S×S in C order, so this is a reshape, not a copy.
    return torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, side, side)


def int_labels(values: Any, count: int, low: int, high: int, source: object) -> torch.Tensor:
    """Labels as int64, checked to number `count` and lie in low..high (inclusive)."""
    try:
        array = np.asarray(values)
    except (TypeError, ValueError):
        raise DataError(f"{source}: 'labels' is not a list of integers") from None
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{source}: 'labels' must be a list of integers, got {array.dtype} "
                        f"{array.shape}")
    if len(array) != count:
        raise DataError(f"{source}: {len(array)} labels for {count} images")
    if count and (array.min() < low or array.max() > high):
        raise DataError(f"{source}: labels must lie in {low}..{high}, found "
                        f"{int(array.min())}..{int(array.max())}")
    return torch.from_numpy(array.astype(np.int64))


Stats = tuple[float, float, float]


def channel_stats(images: torch.Tensor) -> tuple[Stats, Stats]:
    """Per-channel mean and std on the 0..1 scale (float64, chunked to bound memory)."""
    total = torch.zeros(3, dtype=torch.float64)
    squares = torch.zeros(3, dtype=torch.float64)
    for chunk in images.split(4096):
        x = chunk.to(torch.float64) / 255
        total += x.sum(dim=(0, 2, 3))
        squares += (x * x).sum(dim=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / n
    std = (squares / n - mean * mean).clamp_min(1e-12).sqrt()
    m, s = mean.tolist(), std.tolist()
    return (m[0], m[1], m[2]), (s[0], s[1], s[2])


def hold_out(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """(train, val): a seeded `fraction` of `split` held out, at least one image each side."""
    n = len(split)
    if n < 2:
        raise DataError(f"cannot hold out a validation set from {n} training image(s)")
    n_val = min(max(1, round(n * fraction)), n - 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = order[:n_val].sort().values, order[n_val:].sort().values
    return take(split, train_idx), take(split, val_idx)


def take(split: Split, index: torch.Tensor) -> Split:
    """The images and labels at `index`."""
    return Split(split.images[index], split.labels[index])


def limit_train(dataset: Dataset, limit: int | None, seed: int) -> Dataset:
    """Keep the first `limit` training images of a seeded permutation (all if fewer)."""
    n = len(dataset.train)
    if limit is None or limit >= n:
        return dataset
    # A stream apart from hold_out's, so the kept subset does not mirror the held-out one.
    generator = torch.Generator().manual_seed(seed + 0x5EED)
    keep = torch.randperm(n, generator=generator)[:limit].sort().values
    return dataclasses.replace(dataset, train=take(dataset.train, keep))
