"""MNIST family (IDX), CIFAR-100, image folders and .npz: real-format files and every bad input."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import DataError, load_dataset, load_for_spec
from core.data.catalog import catalog
from core.data.folder import CACHE_PREFIX
from core.data.idx import FASHION_MNIST_ROOT
from core.spec import DatasetSpec
from tests.core.data_writers import (
    IMAGE_FOLDER_COLOURS,
    grey_images,
    idx_bytes,
    make_images,
    write_cifar100,
    write_idx_family,
    write_image_folder,
    write_npz,
)

# ---------------------------------------------------------------- IDX (MNIST family)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "kmnist"])
@pytest.mark.parametrize("gz", [True, False])
def test_idx_files_decode_as_three_equal_grey_channels(tmp_path: Path, name: str, gz: bool) -> None:
    root = write_idx_family(tmp_path / name, n_train=20, n_test=6, gz=gz)
    data = load_dataset(name, root, seed=3)
    assert (len(data.train), len(data.val), len(data.test)) == (18, 2, 6)
    assert data.num_classes == 10 and data.image_size == 28
    images = data.train.images
    assert torch.equal(images[:, 0], images[:, 1]) and torch.equal(images[:, 0], images[:, 2])
    # The test split is the t10k files in order: pixels and labels exactly as written.
    assert torch.equal(data.test.images[:, 0], torch.from_numpy(grey_images(6, offset=500)))
    assert data.test.labels.tolist() == [0, 1, 2, 3, 4, 5]
    # Every training image is one of the file's, with its own label (label = index % 10).
    written = torch.from_numpy(grey_images(20))
    for image, label in zip(torch.cat([data.train.images, data.val.images])[:, 0],
                            torch.cat([data.train.labels, data.val.labels]), strict=True):
        index = int((written == image).flatten(1).all(1).nonzero())
        assert label == index % 10


def test_idx_hold_out_is_seeded_and_image_size_resizes(tmp_path: Path) -> None:
    root = write_idx_family(tmp_path / "m")
    a, b = load_dataset("mnist", root, seed=1), load_dataset("mnist", root, seed=1)
    assert torch.equal(a.val.images, b.val.images)
    assert not torch.equal(a.val.images, load_dataset("mnist", root, seed=2).val.images)
    assert load_dataset("mnist", root, image_size=32).image_size == 32


def test_fashion_mnist_defaults_to_the_debian_folder() -> None:
    spec = DatasetSpec(name="fashion_mnist")
    assert spec.root is None
    assert str(FASHION_MNIST_ROOT) == "/usr/share/datasets/fashion-mnist"
    rows = {row["name"]: row for row in catalog()}
    assert rows["fashion_mnist"]["default_root"] == str(FASHION_MNIST_ROOT)


@pytest.mark.skipif(not FASHION_MNIST_ROOT.is_dir(),
                    reason="apt-get install dataset-fashion-mnist (.ci/run installs it)")
def test_real_fashion_mnist_files_load_all_70000_images() -> None:
    data = load_for_spec(DatasetSpec(name="fashion_mnist"), None, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (54_000, 6_000, 10_000)
    everything = torch.cat([data.train.labels, data.val.labels])
    assert torch.bincount(everything).tolist() == [6000] * 10  # the published balance
    assert torch.bincount(data.test.labels).tolist() == [1000] * 10
    assert data.image_size == 28 and data.mean[0] == pytest.approx(0.286, abs=0.002)
    subset = load_for_spec(DatasetSpec(name="fashion_mnist", train_size=500), None, seed=0)
    assert len(subset.train) == 500 and len(subset.val) == 6000 and len(subset.test) == 10000


def test_missing_idx_file_is_named(tmp_path: Path) -> None:
    root = write_idx_family(tmp_path / "m")
    (root / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\[\.gz\]: IDX file is missing"):
        load_dataset("mnist", root)


def test_truncated_idx_files_are_named(tmp_path: Path) -> None:
    root = write_idx_family(tmp_path / "m", gz=False)
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: truncated or padded IDX file"):
        load_dataset("mnist", root)
    gz_root = write_idx_family(tmp_path / "g")
    gz_path = gz_root / "train-images-idx3-ubyte.gz"
    gz_path.write_bytes(gz_path.read_bytes()[:-30])  # a download cut short
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: cannot read IDX file"):
        load_dataset("mnist", gz_root)


def test_idx_with_a_wrong_header_or_label_out_of_range_is_named(tmp_path: Path) -> None:
    root = write_idx_family(tmp_path / "m", gz=False)
    (root / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([0, 1, 2, 3, 4, 10])))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte: labels must lie in 0\.\.9"):
        load_dataset("mnist", root)
    (root / "t10k-labels-idx1-ubyte").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: not an IDX file"):
        load_dataset("mnist", root)
    (root / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros((6, 2), dtype=np.uint8)))
    with pytest.raises(DataError, match="expected unsigned bytes"):
        load_dataset("mnist", root)
    (root / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(DataError, match="5 labels for 6 images"):
        load_dataset("mnist", root)


# ---------------------------------------------------------------- CIFAR-100


def test_cifar100_reads_fine_labels_and_holds_out_val(tmp_path: Path) -> None:
    data = load_dataset("cifar100", write_cifar100(tmp_path), seed=0)
    assert data.num_classes == 100 and (len(data.train), len(data.val)) == (18, 2)
    assert data.test.labels.tolist() == [(7 * j + 100) % 100 for j in range(5)]
    assert torch.equal(data.test.images, torch.from_numpy(make_images(5, 32, 100)))


def test_cifar100_without_fine_labels_is_named(tmp_path: Path) -> None:
    from tests.core.data_writers import py2_pickle

    root = write_cifar100(tmp_path)
    (root / "cifar-100-python" / "test").write_bytes(py2_pickle({b"data": np.zeros((1, 3072))}))
    with pytest.raises(DataError, match="test: missing key.*fine_labels"):
        load_dataset("cifar100", root)


# ---------------------------------------------------------------- image folders


def test_image_folder_decodes_resizes_labels_by_sorted_class(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "tree", per_class=4)
    data = load_dataset("image_folder", root, image_size=8, seed=0)
    assert data.num_classes == 3 and data.image_size == 8
    assert len(data.train) + len(data.val) == 12 and len(data.test) == 12
    for image, label in zip(data.test.images, data.test.labels, strict=True):
        colour = IMAGE_FOLDER_COLOURS[sorted(IMAGE_FOLDER_COLOURS)[int(label)]]
        assert np.allclose(image.float().mean((1, 2)).numpy(), colour, atol=3)  # JPEG noise


def test_image_folder_is_cached_and_decoded_afresh_when_the_tree_changes(tmp_path: Path) -> None:
    root = write_image_folder(tmp_path / "tree", parts=("train", "val"))
    first = load_dataset("image_folder", root, image_size=8)
    caches = list(root.glob(f"{CACHE_PREFIX}*.npz"))
    assert len(caches) == 1 and len(first.val) == 9
    # A cache that still matches is what a second load reads: tamper with it and see.
    with np.load(caches[0]) as stored:
        arrays = {key: stored[key] for key in stored.files}
    arrays["x_train"] = arrays["x_train"] * 0
    np.savez(caches[0], **arrays)
    assert int(load_dataset("image_folder", root, image_size=8).train.images.max()) == 0
    # A new file changes the hash: decoded again from the images.
    write_image_folder(root / "extra", parts=("train",))
    os.replace(root / "extra" / "train" / "cat" / "0.png", root / "train" / "cat" / "new.png")
    again = load_dataset("image_folder", root, image_size=8)
    assert len(again.train) == 10 and int(again.train.images.max()) > 200


def test_image_folder_bad_inputs_are_named(tmp_path: Path) -> None:
    one = write_image_folder(tmp_path / "one", classes={"cat": (1, 2, 3)})
    with pytest.raises(DataError, match="found 1 class folder.*at least 2"):
        load_dataset("image_folder", one)
    corrupt = write_image_folder(tmp_path / "corrupt")
    (corrupt / "train" / "dog" / "1.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DataError, match=r"dog/1\.jpg: cannot decode image"):
        load_dataset("image_folder", corrupt)
    stray = write_image_folder(tmp_path / "stray")
    (stray / "train" / "eel" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"eel/notes\.txt: not an image file"):
        load_dataset("image_folder", stray)
    unknown = write_image_folder(tmp_path / "unknown")
    write_image_folder(tmp_path / "u2", parts=("test",), classes={"fox": (9, 9, 9)})
    os.replace(tmp_path / "u2" / "test" / "fox", unknown / "test" / "fox")
    with pytest.raises(DataError, match="class folder.*fox are not in train"):
        load_dataset("image_folder", unknown)
    with pytest.raises(DataError, match="needs a train/ folder"):
        load_dataset("image_folder", tmp_path / "unknown" / "test")


# ---------------------------------------------------------------- npz


@pytest.mark.parametrize("channels", [None, 1, 3])
def test_npz_reads_grey_and_colour_arrays(tmp_path: Path, channels: int | None) -> None:
    data = load_dataset("npz", write_npz(tmp_path / "a.npz", channels=channels), seed=0)
    assert data.num_classes == 4 and data.image_size == 12
    assert (len(data.train), len(data.val), len(data.test)) == (11, 1, 4)
    assert torch.equal(data.test.images[:, 2], torch.from_numpy(grey_images(4, 12, 50)))
    assert data.test.labels.tolist() == [0, 1, 2, 3]


def test_npz_uses_its_own_val_split_and_a_folder_root(tmp_path: Path) -> None:
    write_npz(tmp_path / "only" / "data.npz", with_val=True)
    data = load_dataset("npz", tmp_path / "only")
    assert (len(data.train), len(data.val)) == (12, 4)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"y_test": None}, "missing key.*y_test"),
        ({"x_val": np.zeros((2, 12, 12), np.uint8)}, "missing key.*y_val"),
        ({"x_train": np.zeros((12, 12, 12), np.float32)}, "'x_train' must be uint8"),
        ({"x_test": np.zeros((4, 12, 12, 2), np.uint8)}, "'x_test' must be uint8.*C 1 or 3"),
        ({"y_train": np.arange(12) * 0.5}, "'y_train' must be a non-empty 1-D integer"),
        ({"y_test": np.array([0, 1, 2, 9])}, "y_test: labels must lie in 0..3"),
        ({"x_train": np.zeros((12, 12, 10), np.uint8)}, "not square; set dataset.image_size"),
        ({"y_train": np.array(["a"] * 12, dtype=object)}, "cannot read as .npz without pickle"),
    ],
)
def test_npz_bad_keys_and_dtypes_are_named(tmp_path: Path, overrides: dict[str, object],
                                           message: str) -> None:
    path = write_npz(tmp_path / "bad.npz", **overrides)
    with pytest.raises(DataError, match=message) as caught:
        load_dataset("npz", path)
    assert str(path) in str(caught.value)


def test_npz_root_must_name_one_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("npz", tmp_path / "none.npz")
    (tmp_path / "junk.npz").write_bytes(gzip.compress(b"not a zip"))
    with pytest.raises(DataError, match="junk.npz: cannot read"):
        load_dataset("npz", tmp_path / "junk.npz")
    write_npz(tmp_path / "second.npz")
    with pytest.raises(DataError, match="exactly one .npz"):
        load_dataset("npz", tmp_path)
