"""What `initlab data list` prints: every data set's format and where it looks by default."""

from __future__ import annotations

from core.data.idx import FASHION_MNIST_ROOT
from core.data.loading import DATASETS

FORMATS: dict[str, str] = {
    "cifar10": "CIFAR-10 python release (cifar-10-batches-py/: data_batch_1..5, test_batch)",
    "cifar100": "CIFAR-100 python release (cifar-100-python/: train, test), fine labels",
    "digits": "scikit-learn's bundled 8×8 digits (no files)",
    "downsampled_imagenet": "Imagenet16/32/64 (train_data_batch_1..10, val_data; pickle or npz)",
    "fashion_mnist": "IDX files, gzipped or not (train-images-idx3-ubyte, t10k-…)",
    "image_folder": "train/<class>/*.png|jpg, optional val/ and test/; cached as .npz",
    "imagenetv2": "ImageNetV2 folders 0..999 of .jpeg",
    "kmnist": "IDX files, gzipped or not (train-images-idx3-ubyte, t10k-…)",
    "mnist": "IDX files, gzipped or not (train-images-idx3-ubyte, t10k-…)",
    "npz": "one .npz: x_train, y_train[, x_val, y_val], x_test, y_test (uint8 N×H×W[×C])",
    "synthetic": "generated from the seed (no files)",
}
DEFAULT_ROOTS: dict[str, str] = {"fashion_mnist": str(FASHION_MNIST_ROOT)}


def catalog() -> list[dict[str, str]]:
    """One row per registered data set: name, format, default root ('-' when root is needed)."""
    return [
        {"name": name, "format": FORMATS[name],
         "default_root": DEFAULT_ROOTS.get(name, "none needed" if name in ("digits", "synthetic")
                                           else "- (dataset.root required)")}
        for name in DATASETS.names()
    ]
