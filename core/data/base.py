"""The in-memory form every data set loads into: uint8 images and 0-based int64 labels."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from core.data.errors import DataError

__all__ = ["DataError", "Dataset", "Split"]


@dataclass(frozen=True)
class Split:
    """One split: `images` uint8 N×3×S×S, `labels` int64 N, 0-based."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4 or self.images.shape[1] != 3:
            raise DataError(f"images must be uint8 N×3×S×S, got {self.images.dtype} "
                            f"{tuple(self.images.shape)}")
        if self.labels.dtype != torch.int64 or self.labels.shape != self.images.shape[:1]:
            raise DataError(f"labels must be int64 of length {self.images.shape[0]}, got "
                            f"{self.labels.dtype} {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        return int(self.labels.shape[0])


@dataclass(frozen=True)
class Dataset:
    """Splits plus what the model and the normalisation need; absent splits are None."""

    train: Split
    val: Split | None
    test: Split | None
    num_classes: int
    mean: tuple[float, float, float]  # per-channel, on the 0..1 scale
    std: tuple[float, float, float]

    def split(self, name: str) -> Split | None:
        """The split called train, val or test."""
        if name not in ("train", "val", "test"):
            raise KeyError(f"unknown split {name!r}; valid choices: train, val, test")
        split: Split | None = getattr(self, name)
        return split

    @property
    def image_size(self) -> int:
        return int(self.train.images.shape[-1])
