"""Data-set registry: `load_dataset(name, root, **options)` loads any registered data set.

Each loader reads its format as published (nothing is downloaded) into uint8 N×3×S×S images and
0-based int64 labels (core.data.base). `load_for_spec` does the same for a DatasetSpec, keeping
every path it names inside the server's data root. The package `core.data` re-exports these
names lazily, so importing it (for DataError or the path checks) does not load torch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

# The built-in formats, loaded in this one place: importing each registers its loader.
from core.data import arrays, cifar, downsampled, folder, idx, imagenetv2, small  # noqa: F401
from core.data.base import DataError, Dataset, Split
from core.data.common import DataOptions, make_options, subset_train
from core.data.paths import check_links_inside, resolve_data_path
from core.data.registry import DATASETS
from core.spec import DatasetSpec

__all__ = ["DATASETS", "load_dataset", "load_for_spec"]


def load_dataset(name: str, root: str | Path | None, **options: Any) -> Dataset:
    """Load data set `name` from folder `root` (unused by digits/synthetic).

    Options (core.data.common.DataOptions): image_size, val_fraction, train_size, seed,
    num_classes, num_train, test ("imagenetv2"), test_root, map_clsloc, test_resample.
    """
    loader = DATASETS.get(name)
    opts = make_options(**options)
    dataset = loader(Path(root) if root is not None else None, opts)
    if opts.test == "imagenetv2":
        dataset = dataclasses.replace(dataset, test=_imagenetv2_test(dataset, opts))
    return subset_train(dataset, opts.train_size, opts.seed)


def _imagenetv2_test(dataset: Dataset, opts: DataOptions) -> Split:
    """ImageNetV2 at the training image size, labelled in Downsampled ImageNet order."""
    test_root = opts.test_root
    if test_root is None:
        raise DataError("test 'imagenetv2' needs test_root, the ImageNetV2 folder")
    if not test_root.is_dir():
        raise DataError(f"{test_root}: ImageNetV2 folder does not exist")
    map_path = imagenetv2.find_map(test_root, opts.map_clsloc)
    split, num_classes = imagenetv2.load_imagenetv2_split(
        test_root, dataset.image_size, map_path, opts.test_resample
    )
    if num_classes != dataset.num_classes:
        raise DataError(f"test 'imagenetv2' has {num_classes} classes but the training data "
                        f"has {dataset.num_classes}; it only fits ImageNet-1k training data")
    return split


def load_for_spec(spec: DatasetSpec, data_root: str | Path | None, *, seed: int = 0) -> Dataset:
    """Load the data a spec names; its paths must resolve inside `data_root` (None: anywhere)."""

    def resolve(path: str | None) -> Path | None:
        if path is None:
            return None
        resolved = resolve_data_path(data_root, path)
        check_links_inside(resolved, data_root)  # a linked file inside may lead outside
        return resolved

    return load_dataset(
        spec.name,
        resolve(spec.root),
        image_size=spec.image_size,
        val_fraction=spec.val_fraction,
        train_size=spec.train_size,
        seed=seed,
        num_classes=spec.num_classes,
        num_train=spec.num_train,
        test=spec.test,
        test_root=resolve(spec.test_root),
        map_clsloc=resolve(spec.map_clsloc),
        test_resample=spec.test_resample,
    )

