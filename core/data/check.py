"""Check that a data set loads, and summarise what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.data.base import DataError
from core.data.loading import load_dataset


def check_dataset(
    name: str, root: str | Path | None, image_size: int | None = None, **options: Any
) -> dict[str, Any]:
    """Load `name`; report split sizes, classes, image shape and label range (DataError if bad)."""
    dataset = load_dataset(name, root, image_size=image_size, **options)
    splits = {key: dataset.split(key) for key in ("train", "val", "test")}
    present = [split for split in splits.values() if split is not None and len(split)]
    labels = [int(v) for split in present for v in (split.labels.min(), split.labels.max())]
    if labels and (min(labels) < 0 or max(labels) >= dataset.num_classes):
        raise DataError(f"{name}: labels {min(labels)}..{max(labels)} fall outside "
                        f"0..{dataset.num_classes - 1}")
    side = dataset.image_size
    return {
        **{key: len(split) if split is not None else 0 for key, split in splits.items()},
        "classes": dataset.num_classes,
        "image_shape": [3, side, side],
        "label_min": min(labels) if labels else None,
        "label_max": max(labels) if labels else None,
    }
