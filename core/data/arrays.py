"""A researcher's own arrays: one `.npz` file, read without pickle.

Keys `x_train, y_train, x_test, y_test` and optionally `x_val, y_val`; images uint8 N×H×W (grey)
or N×H×W×C with C 1 or 3, labels integers 0..K-1 (K = the largest training label + 1). Without
`x_val`, a seeded `val_fraction` of train is held out. Non-square images need dataset.image_size.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from core.data.base import DataError, Dataset, Split
from core.data.common import DataOptions, channel_stats, hold_out, int_labels
from core.data.registry import DATASETS
from core.data.small import resize

REQUIRED = ("x_train", "y_train", "x_test", "y_test")
OPTIONAL = ("x_val", "y_val")


def npz_path(root: Path | None) -> Path:
    """The .npz file `root` names, or the only .npz in folder `root`."""
    if root is None:
        raise DataError("dataset npz needs dataset.root, the .npz file")
    if root.is_dir():
        found = sorted(root.glob("*.npz"))
        if len(found) != 1:
            raise DataError(f"{root}: expected exactly one .npz file in the folder, "
                            f"found {len(found)}; name the file as dataset.root")
        return found[0]
    if not root.is_file():
        raise DataError(f"{root}: .npz file does not exist")
    return root


def to_images(array: np.ndarray, key: str, path: Path, size: int | None) -> torch.Tensor:
    """uint8 N×3×S×S from N×H×W or N×H×W×C (C in 1, 3), resized to `size` if given."""
    if array.dtype != np.uint8 or array.ndim not in (3, 4) or (
        array.ndim == 4 and array.shape[3] not in (1, 3)
    ):
        raise DataError(f"{path}: {key!r} must be uint8 N×H×W or N×H×W×C (C 1 or 3), got "
                        f"{array.dtype} {array.shape}")
    images = torch.from_numpy(np.ascontiguousarray(array))
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2)
    if size is None and images.shape[2] != images.shape[3]:
        raise DataError(f"{path}: {key!r} images are {images.shape[2]}×{images.shape[3]}, not "
                        "square; set dataset.image_size to resize them")
    images = resize(images, size)
    return images.expand(-1, 3, -1, -1).contiguous()


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of the file, refusing object arrays (which would need pickle)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = set(archive.files)
            missing = [k for k in REQUIRED if k not in keys]
            if missing or (("x_val" in keys) != ("y_val" in keys)):
                absent = missing or [k for k in OPTIONAL if k not in keys]
                raise DataError(f"{path}: missing key(s) {', '.join(absent)}; expected "
                                f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}")
            return {key: archive[key] for key in (*REQUIRED, *OPTIONAL) if key in keys}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"{path}: cannot read as .npz without pickle: {error}") from None


def make_split(arrays: dict[str, np.ndarray], part: str, classes: int, path: Path,
               size: int | None) -> Split:
    """Split `part` (train, val or test) from x_<part> and y_<part>."""
    images = to_images(arrays[f"x_{part}"], f"x_{part}", path, size)
    labels = int_labels(arrays[f"y_{part}"], len(images), 0, classes - 1, f"{path} y_{part}")
    return Split(images, labels)


@DATASETS.register("npz")
def load_npz(root: Path | None, opts: DataOptions) -> Dataset:
    """The arrays of one .npz; val held out of train when the file has none."""
    path = npz_path(root)
    arrays = read_arrays(path)
    y_train = arrays["y_train"]
    if y_train.ndim != 1 or not np.issubdtype(y_train.dtype, np.integer) or not len(y_train):
        raise DataError(f"{path}: 'y_train' must be a non-empty 1-D integer array, got "
                        f"{y_train.dtype} {y_train.shape}")
    classes = int(y_train.max()) + 1
    if classes < 2:
        raise DataError(f"{path}: 'y_train' holds {classes} class; at least 2 are needed")
    train = make_split(arrays, "train", classes, path, opts.image_size)
    size = train.images.shape[-1]
    if "x_val" in arrays:
        val = make_split(arrays, "val", classes, path, size)
    else:
        train, val = hold_out(train, opts.val_fraction, opts.seed)
    test = make_split(arrays, "test", classes, path, size)
    mean, std = channel_stats(train.images)
    return Dataset(train, val, test, classes, mean, std)
