"""MNIST, Fashion-MNIST and Kuzushiji-MNIST in their published IDX files (LeCun et al. 1998).

Each release is four files, gzipped or not: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
`t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`. An IDX file is a big-endian header (two zero
bytes, a type code — 0x08 for unsigned bytes —, the number of dimensions, then each dimension as a
uint32) followed by the values in C order. Images are 28×28 grey, labels 0..9.

Grey images are stored replicated to 3 identical channels, so every model (registered,
torchvision or the researcher's own, all of which take RGB) accepts them unchanged. Measured
against a 1-channel stem (bench/RESULTS.md, "Grey images"): on small_cnn at 28 px the replicated
input costs 0-10% of training CPU time (within this machine's noise), the price of the first
convolution seeing 3 channels; the deeper the model the smaller that share. A 1-channel stem
would need every model, including torchvision's and the researcher's own, rebuilt or patched,
so replication is the general choice.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from core.data.base import DataError, Dataset, Split
from core.data.common import DataOptions, channel_stats, hold_out, int_labels, require_root
from core.data.registry import DATASETS
from core.data.small import resize

UBYTE = 0x08
NUM_CLASSES = 10
FASHION_MNIST_ROOT = Path("/usr/share/datasets/fashion-mnist")  # Debian dataset-fashion-mnist
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_file(folder: Path, stem: str) -> Path:
    """`folder/stem.gz` or `folder/stem` (also the `stem.idx3-ubyte` spelling some mirrors use)."""
    dotted = stem.replace("-idx", ".idx")
    for name in (stem + ".gz", stem, dotted + ".gz", dotted):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{folder / stem}[.gz]: IDX file is missing")


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The uint8 array an IDX file holds; its header must say unsigned bytes in `ndim` dims."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot read IDX file: {error}") from None
    if len(raw) < 4 or raw[:2] != b"\0\0":
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != UBYTE or raw[3] != ndim:
        raise DataError(f"{path}: IDX header says type 0x{raw[2]:02x} in {raw[3]} dimension(s); "
                        f"expected unsigned bytes (0x08) in {ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        dims = "×".join(map(str, shape))
        raise DataError(f"{path}: truncated or padded IDX file: header says {dims} = {expected}"
                        f" bytes, the file holds {len(raw) - header}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_split(folder: Path, part: str, image_size: int | None) -> Split:
    """The images (as 3 equal channels) and labels of the `train` or `t10k` files."""
    image_stem, label_stem = FILES[part]
    image_path, label_path = find_file(folder, image_stem), find_file(folder, label_stem)
    pixels = read_idx(image_path, 3)
    labels = int_labels(read_idx(label_path, 1), len(pixels), 0, NUM_CLASSES - 1, label_path)
    grey = torch.from_numpy(pixels.copy()).unsqueeze(1)
    return Split(resize(grey, image_size).expand(-1, 3, -1, -1).contiguous(), labels)


def load_idx_family(name: str, root: Path | None, opts: DataOptions) -> Dataset:
    """Train minus a seeded `val_fraction` (10%) held out as val; t10k as test."""
    folder = require_root(root, name)
    everything = read_split(folder, "train", opts.image_size)
    train, val = hold_out(everything, opts.val_fraction, opts.seed)
    test = read_split(folder, "test", opts.image_size)
    mean, std = channel_stats(train.images)
    return Dataset(train, val, test, NUM_CLASSES, mean, std)


@DATASETS.register("mnist")
def load_mnist(root: Path | None, opts: DataOptions) -> Dataset:
    """MNIST (LeCun et al. 1998): handwritten digits."""
    return load_idx_family("mnist", root, opts)


@DATASETS.register("fashion_mnist")
def load_fashion_mnist(root: Path | None, opts: DataOptions) -> Dataset:
    """Fashion-MNIST (Xiao et al. 2017); without a root, the Debian package's folder."""
    return load_idx_family("fashion_mnist", root or FASHION_MNIST_ROOT, opts)


@DATASETS.register("kmnist")
def load_kmnist(root: Path | None, opts: DataOptions) -> Dataset:
    """Kuzushiji-MNIST (Clanuwat et al. 2018): cursive Japanese characters."""
    return load_idx_family("kmnist", root, opts)
