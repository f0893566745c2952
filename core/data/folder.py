"""A torchvision-style image tree: `train/<class>/*.png|jpg`, optional `val/` and `test/`.

Classes are the sub-folders of `train/`, sorted (label k is the k-th); val and test may hold only
those. Every image is decoded once, converted to RGB and resized to dataset.image_size (default
DEFAULT_SIZE) with bilinear filtering, then cached as uint8 arrays in `.initlab-cache-<hash>.npz`
beside the tree, where the hash covers every file's path, size and mtime and the image size, so a
second load reads one file and any change to the tree decodes afresh. Without `val/`, a seeded
`val_fraction` of train is held out; without `test/` there is no test split.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from core.data.base import DataError, Dataset, Split
from core.data.common import DataOptions, channel_stats, hold_out, require_root
from core.data.registry import DATASETS

EXTENSIONS = (".png", ".jpg", ".jpeg")
DEFAULT_SIZE = 32
CACHE_PREFIX = ".initlab-cache-"
PARTS = ("train", "val", "test")


def list_part(root: Path, part: str, classes: list[str] | None) -> list[tuple[Path, str]]:
    """(file, class) of every image under `root/part`; non-image files are errors."""
    folder = root / part
    found = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if classes is not None:
        extra = sorted(set(found) - set(classes))
        if extra:
            raise DataError(f"{folder}: class folder(s) {', '.join(extra)} are not in train/ "
                            f"(classes: {', '.join(classes)})")
    files = []
    for name in found:
        for path in sorted((folder / name).iterdir()):
            if path.name.startswith(".") or path.is_dir():
                continue
            if path.suffix.lower() not in EXTENSIONS:
                raise DataError(f"{path}: not an image file; valid: {', '.join(EXTENSIONS)}")
            files.append((path, name))
    return files


def decode(path: Path, size: int) -> np.ndarray:
    """One image as uint8 3×size×size."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise DataError(f"{path}: cannot decode image: {error}") from None
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def tree_hash(files: dict[str, list[tuple[Path, str]]], size: int, root: Path) -> str:
    """A digest of every file's relative path, size and mtime, and the image size."""
    digest = hashlib.sha256(f"size={size}".encode())
    for part, entries in files.items():
        for path, label in entries:
            stat = os.stat(path)
            rel = path.relative_to(root)
            digest.update(f"{part}|{label}|{rel}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:24]


def decode_all(files: dict[str, list[tuple[Path, str]]], classes: list[str],
               size: int) -> dict[str, np.ndarray]:
    """x_<part> and y_<part> arrays of every part."""
    index = {name: k for k, name in enumerate(classes)}
    arrays = {}
    for part, entries in files.items():
        images = np.zeros((len(entries), 3, size, size), dtype=np.uint8)
        for i, (path, _) in enumerate(entries):
            images[i] = decode(path, size)
        arrays[f"x_{part}"] = images
        arrays[f"y_{part}"] = np.array([index[label] for _, label in entries], dtype=np.int64)
    return arrays


def cached_arrays(root: Path, files: dict[str, list[tuple[Path, str]]], classes: list[str],
                  size: int) -> dict[str, np.ndarray]:
    """The decoded arrays, from the cache when it matches the tree, else decoded and cached."""
    cache = root / f"{CACHE_PREFIX}{tree_hash(files, size, root)}.npz"
    if cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as stored:
                return {key: stored[key] for key in stored.files}
        except (ValueError, OSError):
            pass  # a damaged cache is rebuilt below
    arrays = decode_all(files, classes, size)
    partial = cache.with_suffix(".tmp.npz")
    try:
        np.savez(partial, **arrays)  # type: ignore[arg-type]  # numpy stubs: allow_pickle
        partial.replace(cache)  # atomic: a reader never sees half a cache
    except OSError:
        pass  # a read-only data folder only loses the cache, not the data
    return arrays


@DATASETS.register("image_folder")
def load_image_folder(root: Path | None, opts: DataOptions) -> Dataset:
    """train/<class>/ images (at least two classes); val/ and test/ when present."""
    folder = require_root(root, "image_folder")
    if not (folder / "train").is_dir():
        raise DataError(f"{folder / 'train'}: image_folder needs a train/ folder of class folders")
    train_files = list_part(folder, "train", None)
    classes = sorted({label for _, label in train_files})
    if len(classes) < 2:
        raise DataError(f"{folder / 'train'}: found {len(classes)} class folder(s) holding "
                        "images; at least 2 are needed")
    files = {"train": train_files}
    for part in ("val", "test"):
        if (folder / part).is_dir():
            files[part] = list_part(folder, part, classes)
    arrays = cached_arrays(folder, files, classes, opts.image_size or DEFAULT_SIZE)

    def split(part: str) -> Split | None:
        if part not in files:
            return None
        return Split(torch.from_numpy(arrays[f"x_{part}"]), torch.from_numpy(arrays[f"y_{part}"]))

    train, val = split("train"), split("val")
    assert train is not None
    if val is None:
        train, val = hold_out(train, opts.val_fraction, opts.seed)
    mean, std = channel_stats(train.images)
    return Dataset(train, val, split("test"), len(classes), mean, std)
