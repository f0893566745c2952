"""Writers of the data sets' real published formats, a few images per file, for the tests."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def make_images(n: int, side: int, offset: int = 0) -> np.ndarray:
    """uint8 N×3×S×S whose R, G and B planes all differ, so a plane mix-up shows."""
    pixel = np.arange(side * side).reshape(side, side)
    out = np.empty((n, 3, side, side), dtype=np.uint8)
    for i in range(n):
        for c in range(3):
            out[i, c] = (pixel * (c + 1) + 40 * c + 7 * (i + offset)) % 256
    return out


def planar_rows(images: np.ndarray) -> np.ndarray:
    """The published row layout: R plane, G plane, B plane, each row-major."""
    return images.reshape(len(images), -1).copy()


def write_imagenet_batch(path: Path, images: np.ndarray, labels: list[int], npz: bool = False,
                         compressed: bool = False) -> None:
    """One Imagenet16/32/64 batch (labels 1..1000), as a protocol-3 pickle or an .npz."""
    batch = {"data": planar_rows(images), "labels": labels, "mean": images.mean(0).ravel()}
    if npz:
        (np.savez_compressed if compressed else np.savez)(path, **batch)
    else:
        path.write_bytes(pickle.dumps(batch, protocol=3))


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Writes bytes as Python-2 `str` opcodes, as the CIFAR-10 python release was written."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_py2_str(self: Any, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def py2_pickle(obj: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    Py2Pickler(buffer, protocol=2).dump(obj)
    # numpy 1.x (which wrote the real files) names numpy.core, not numpy._core
    return buffer.getvalue().replace(b"numpy._core.", b"numpy.core.")


def write_cifar(root: Path, per_batch: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """cifar-10-batches-py/ with bytes keys like the real files; returns all train images/labels."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images, labels = [], []
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        batch_images = make_images(per_batch, 32, offset=i * per_batch)
        batch_labels = [(i + j) % 10 for j in range(per_batch)]
        batch = {b"batch_label": b"training batch", b"data": planar_rows(batch_images),
                 b"labels": batch_labels, b"filenames": [b"x.png"] * per_batch}
        (folder / name).write_bytes(py2_pickle(batch))
        if name != "test_batch":
            images.append(batch_images)
            labels.extend(batch_labels)
    (folder / "batches.meta").write_bytes(py2_pickle({b"label_names": [b"airplane"] * 10}))
    return np.concatenate(images), np.array(labels)


def write_imagenet32(root: Path, side: int = 16, batches: tuple[int, ...] = (1, 3)) -> Path:
    """A Downsampled ImageNet folder with some train batches and val_data."""
    root.mkdir(parents=True, exist_ok=True)
    for k in batches:
        write_imagenet_batch(root / f"train_data_batch_{k}", make_images(3, side, 10 * k),
                             [1, 1000, k])
    write_imagenet_batch(root / "val_data", make_images(2, side, 99), [5, 6])
    return root


SMALL_WNIDS = [f"n{i:08d}" for i in range(12)]
SMALL_LABELS = [(7 * k + 3) % 12 for k in range(12)]  # 0-based label of the k-th sorted wnid


def write_small_map(path: Path) -> None:
    """A 12-class map_clsloc whose line order differs from the sorted wnid order."""
    lines = [f"{w} {lab + 1} name_{lab}" for w, lab in zip(SMALL_WNIDS, SMALL_LABELS, strict=True)]
    path.write_text("\n".join(reversed(lines)) + "\n")


FOLDER_COLOURS = {0: (250, 10, 10), 2: (10, 250, 10), 10: (10, 10, 250)}


def write_topimages(root: Path, per_class: int = 2) -> Path:
    """ImageNetV2 TopImages layout: <root>/<k>/*.jpeg, real (non-square) JPEGs."""
    for k, colour in FOLDER_COLOURS.items():
        folder = root / str(k)
        folder.mkdir(parents=True)
        for j in range(per_class):
            Image.new("RGB", (40, 24), colour).save(folder / f"{j}.jpeg", "JPEG", quality=95)
    return root


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes: magic 0,0,0x08,ndim, big-endian dims, then the values."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def grey_images(n: int, side: int = 28, offset: int = 0) -> np.ndarray:
    """uint8 N×S×S whose images all differ."""
    pixel = np.arange(side * side).reshape(side, side)
    return np.stack([(pixel * 3 + 11 * (i + offset)) % 256 for i in range(n)]).astype(np.uint8)


def write_idx_family(root: Path, n_train: int = 20, n_test: int = 6, gz: bool = True) -> Path:
    """The four MNIST-style IDX files (gzipped as published, or raw); labels cycle 0..9."""
    import gzip

    root.mkdir(parents=True, exist_ok=True)
    for prefix, n, offset in (("train", n_train, 0), ("t10k", n_test, 500)):
        files = {f"{prefix}-images-idx3-ubyte": grey_images(n, offset=offset),
                 f"{prefix}-labels-idx1-ubyte": (np.arange(n) % 10).astype(np.uint8)}
        for name, array in files.items():
            data = idx_bytes(array)
            if gz:
                (root / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (root / name).write_bytes(data)
    return root


def write_cifar100(root: Path, n_train: int = 20, n_test: int = 5) -> Path:
    """cifar-100-python/ train, test, meta with the release's keys (fine and coarse labels)."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n, offset in (("train", n_train, 0), ("test", n_test, 100)):
        images = make_images(n, 32, offset)
        batch = {b"filenames": [b"x.png"] * n, b"batch_label": name.encode(),
                 b"fine_labels": [(7 * j + offset) % 100 for j in range(n)],
                 b"coarse_labels": [j % 20 for j in range(n)], b"data": planar_rows(images)}
        (folder / name).write_bytes(py2_pickle(batch))
    (folder / "meta").write_bytes(py2_pickle({b"fine_label_names": [b"apple"] * 100}))
    return root


IMAGE_FOLDER_COLOURS = {"cat": (250, 10, 10), "dog": (10, 250, 10), "eel": (10, 10, 250)}


def write_image_folder(root: Path, per_class: int = 3, parts: tuple[str, ...] = ("train", "test"),
                       classes: dict[str, tuple[int, int, int]] | None = None) -> Path:
    """train/<class>/ (and other parts) of real PNGs and JPEGs of one colour per class."""
    for part in parts:
        for name, colour in (classes or IMAGE_FOLDER_COLOURS).items():
            folder = root / part / name
            folder.mkdir(parents=True)
            for j in range(per_class):
                kind = ("PNG", "png") if j % 2 == 0 else ("JPEG", "jpg")
                Image.new("RGB", (20 + j, 16), colour).save(folder / f"{j}.{kind[1]}", kind[0])
    return root


def write_npz(path: Path, with_val: bool = False, channels: int | None = None,
              **overrides: Any) -> Path:
    """An .npz of x_train, y_train, x_test, y_test (and x_val, y_val) as np.savez writes it."""
    def images(n: int, offset: int) -> np.ndarray:
        grey = grey_images(n, 12, offset)
        return grey if channels is None else np.repeat(grey[..., None], channels, axis=3)

    arrays: dict[str, Any] = {"x_train": images(12, 0), "y_train": np.arange(12) % 4,
                              "x_test": images(4, 50), "y_test": np.arange(4) % 4}
    if with_val:
        arrays.update(x_val=images(4, 80), y_val=np.arange(4) % 4)
    arrays.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path
