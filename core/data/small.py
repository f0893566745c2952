"""Data sets that need no files: scikit-learn's bundled digits, and a generated one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.data.base import Dataset, Split
from core.data.common import DataOptions, channel_stats, take
from core.data.registry import DATASETS

DIGITS_SPLIT_SEED = 0  # fixed, so every experiment sees the same digits split
SYNTHETIC_SIZE = 32
_CHUNK = 4096  # images generated at once; bounds float memory for large synthetic sets


def resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """uint8 images bilinearly resized to size×size (unchanged if already that size)."""
    if size is None or size == images.shape[-1]:
        return images
    out = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)
    return out.round().clamp(0, 255).to(torch.uint8)


@DATASETS.register("digits")
def load_digits(root: Path | None, opts: DataOptions) -> Dataset:
    """The 1,797 8×8 digits as grey RGB, split 60/20/20 by a fixed permutation."""
    from sklearn.datasets import load_digits as sklearn_digits  # slow import; only when used

    bunch = sklearn_digits()
    pixels = np.rint(np.asarray(bunch.images) * (255 / 16)).astype(np.uint8)  # 0..16 -> 0..255
    images = torch.from_numpy(pixels).unsqueeze(1).expand(-1, 3, -1, -1).contiguous()
    images = resize(images, opts.image_size)
    labels = torch.from_numpy(np.asarray(bunch.target, dtype=np.int64))
    everything = Split(images, labels)
    n = len(everything)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    n_train, n_val = int(n * 0.6), int(n * 0.2)
    train = take(everything, order[:n_train])
    val = take(everything, order[n_train : n_train + n_val])
    test = take(everything, order[n_train + n_val :])
    mean, std = channel_stats(train.images)
    return Dataset(train, val, test, 10, mean, std)


def _synthetic_images(
    templates: torch.Tensor, labels: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    size = templates.shape[-1]
    images = torch.empty((len(labels), 3, size, size), dtype=torch.uint8)
    for start in range(0, len(labels), _CHUNK):
        chunk = labels[start : start + _CHUNK]
        noise = torch.randn((len(chunk), 3, size, size), generator=generator) * 0.12
        pixels = (0.15 + 0.7 * templates[chunk] + noise).clamp(0, 1)
        images[start : start + len(chunk)] = (pixels * 255).round().to(torch.uint8)
    return images


@DATASETS.register("synthetic")
def load_synthetic(root: Path | None, opts: DataOptions) -> Dataset:
    """Seeded images whose class is a smooth colour pattern plus noise: learnable, fast.

    `num_train` training images and `num_train // 4` each for val and test, balanced classes.
    """
    size = opts.image_size or SYNTHETIC_SIZE
    generator = torch.Generator().manual_seed(opts.seed)
    coarse = torch.rand((opts.num_classes, 3, 4, 4), generator=generator)
    templates = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=False)
    n_held = max(1, opts.num_train // 4)
    total = opts.num_train + 2 * n_held
    labels = (torch.arange(total) % opts.num_classes)[torch.randperm(total, generator=generator)]
    everything = Split(_synthetic_images(templates, labels, generator), labels)
    train = take(everything, torch.arange(opts.num_train))
    val = take(everything, torch.arange(opts.num_train, opts.num_train + n_held))
    test = take(everything, torch.arange(opts.num_train + n_held, total))
    mean, std = channel_stats(train.images)
    return Dataset(train, val, test, opts.num_classes, mean, std)
