"""Data sets: small files in the exact published formats, read back through load_dataset."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
import torch

from core.data import DATASETS, DataError, load_dataset, load_for_spec, resolve_data_path
from core.data.check import check_dataset
from core.registry import UnknownNameError
from core.spec import DatasetName, DatasetSpec
from tests.core.data_writers import (
    FOLDER_COLOURS,
    SMALL_LABELS,
    write_cifar,
    write_cifar100,
    write_idx_family,
    write_image_folder,
    write_imagenet32,
    write_npz,
    write_small_map,
    write_topimages,
)


@pytest.fixture
def roots(tmp_path: Path) -> dict[str, Path | None]:
    """A tiny folder for every registered data set that reads files."""
    write_cifar(tmp_path / "cifar")
    return {
        "downsampled_imagenet": write_imagenet32(tmp_path / "imnet"),
        "cifar10": tmp_path / "cifar",
        "cifar100": write_cifar100(tmp_path / "cifar100"),
        "mnist": write_idx_family(tmp_path / "mnist"),
        "fashion_mnist": write_idx_family(tmp_path / "fashion", gz=False),
        "kmnist": write_idx_family(tmp_path / "kmnist"),
        "image_folder": write_image_folder(tmp_path / "folder"),
        "npz": write_npz(tmp_path / "arrays.npz"),
        "imagenetv2": write_topimages(tmp_path / "v2"),
        "digits": None,
        "synthetic": None,
    }


# ---------------------------------------------------------------- every registered data set


def test_registry_names_are_the_spec_names() -> None:
    assert DATASETS.names() == sorted(get_args(DatasetName))


@pytest.mark.parametrize("name", DATASETS.names())
def test_every_dataset_loads_uint8_images_and_valid_labels(
    name: str, roots: dict[str, Path | None]
) -> None:
    dataset = load_dataset(name, roots[name])
    for split in (dataset.train, dataset.val, dataset.test):
        if split is None:
            continue
        assert split.images.dtype == torch.uint8 and split.images.shape[1] == 3
        assert split.images.shape[-1] == split.images.shape[-2] == dataset.image_size
        assert split.labels.dtype == torch.int64
        assert 0 <= int(split.labels.min()) <= int(split.labels.max()) < dataset.num_classes
    assert len(dataset.mean) == len(dataset.std) == 3 and min(dataset.std) > 0
    again = load_dataset(name, roots[name])
    assert torch.equal(again.train.images, dataset.train.images)


@pytest.mark.parametrize("name", DATASETS.names())
def test_train_size_keeps_a_seeded_subset(name: str, roots: dict[str, Path | None]) -> None:
    full = load_dataset(name, roots[name], seed=1)
    small = load_dataset(name, roots[name], seed=1, train_size=2)
    assert len(small.train) == 2
    assert torch.equal(
        small.train.images, load_dataset(name, roots[name], seed=1, train_size=2).train.images
    )
    rows = {bytes(img.flatten().tolist()) for img in full.train.images}
    assert all(bytes(img.flatten().tolist()) in rows for img in small.train.images)


@pytest.mark.parametrize("name", DATASETS.names())
def test_check_dataset_reports_every_dataset(name: str, roots: dict[str, Path | None]) -> None:
    report = check_dataset(name, roots[name])
    dataset = load_dataset(name, roots[name])
    assert report["train"] == len(dataset.train)
    assert report["val"] == (len(dataset.val) if dataset.val else 0)
    assert report["classes"] == dataset.num_classes
    assert report["image_shape"] == [3, dataset.image_size, dataset.image_size]
    assert 0 <= report["label_min"] <= report["label_max"] < dataset.num_classes


def test_check_dataset_values_for_downsampled_imagenet(tmp_path: Path) -> None:
    report = check_dataset("downsampled_imagenet", write_imagenet32(tmp_path / "i"), 16)
    assert report == {
        "train": 6,
        "val": 2,
        "test": 0,
        "classes": 1000,
        "image_shape": [3, 16, 16],
        "label_min": 0,
        "label_max": 999,
    }


def test_unknown_names_and_options_list_the_valid_choices(tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="valid choices: cifar10"):
        load_dataset("emnist", tmp_path)
    with pytest.raises(DataError, match="unknown data option.*valid choices"):
        load_dataset("synthetic", None, colour=True)
    with pytest.raises(DataError, match="needs a root folder"):
        load_dataset("cifar10", None)
    with pytest.raises(DataError, match="does not exist"):
        check_dataset("cifar10", tmp_path / "nowhere")


# ---------------------------------------------------------------- ImageNetV2


def test_imagenetv2_maps_numeric_folders_through_map_clsloc(tmp_path: Path) -> None:
    root = write_topimages(tmp_path / "v2")
    write_small_map(root / "map_clsloc.txt")
    dataset = load_dataset("imagenetv2", root, image_size=8)
    # Folders in numeric order 0, 2, 10 (a string sort would give 0, 10, 2), two images each.
    expected = [SMALL_LABELS[k] for k in (0, 2, 10) for _ in range(2)]
    assert dataset.test is not None and dataset.test.labels.tolist() == expected
    assert dataset.num_classes == 12 and dataset.test.images.shape == (6, 3, 8, 8)
    for i, k in enumerate([0, 0, 2, 2, 10, 10]):
        mean_colour = dataset.test.images[i].float().mean(dim=(1, 2))
        assert torch.allclose(mean_colour, torch.tensor(FOLDER_COLOURS[k]).float(), atol=12)


def test_imagenetv2_uses_the_shipped_ilsvrc2012_map(tmp_path: Path) -> None:
    dataset = load_dataset("imagenetv2", write_topimages(tmp_path / "v2", per_class=1))
    # sorted wnids 0, 2, 10: tench (449), great white shark (442), brambling (386), 1-based.
    assert dataset.test is not None and dataset.test.labels.tolist() == [448, 441, 385]
    assert dataset.num_classes == 1000


def test_shipped_map_is_the_full_devkit_file() -> None:
    from core.data.imagenetv2 import packaged_map, read_map

    path = packaged_map()
    assert path is not None
    lines = path.read_text().splitlines()
    assert len(lines) == 1000 and lines[0] == "n02119789 1 kit_fox"
    assert lines[-1] == "n03255030 1000 dumbbell"
    mapping = read_map(path)
    assert sorted(mapping.values()) == list(range(1000))


@pytest.mark.parametrize(
    "problem, match",
    [
        ("text_file", r"notes\.txt: not a readable image"),
        ("bad_folder", "class folders must be named"),
        ("no_map", "needs the ILSVRC2012 devkit map_clsloc"),
        ("folder_too_big", "past the 12 classes"),
    ],
)
def test_imagenetv2_refuses_malformed_folders(
    tmp_path: Path, problem: str, match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.data.imagenetv2 as v2

    root = write_topimages(tmp_path / "v2")
    if problem == "text_file":
        (root / "2" / "notes.txt").write_text("not an image")
    elif problem == "bad_folder":
        (root / "extra").mkdir()
    elif problem == "no_map":
        monkeypatch.setattr(v2, "packaged_map", lambda: None)
    else:
        write_small_map(root / "map_clsloc.txt")
        (root / "12").mkdir()
    with pytest.raises(DataError, match=match):
        load_dataset("imagenetv2", root)


# ---------------------------------------------------------------- specs and the data root


def test_load_for_spec_replaces_test_with_imagenetv2_at_the_training_size(tmp_path: Path) -> None:
    write_imagenet32(tmp_path / "imagenet32", side=16)
    write_topimages(tmp_path / "imagenetv2")
    spec = DatasetSpec(
        name="downsampled_imagenet",
        root="imagenet32",
        image_size=16,
        test="imagenetv2",
        test_root="imagenetv2",
    )
    dataset = load_for_spec(spec, tmp_path)
    assert dataset.test is not None and dataset.test.images.shape == (6, 3, 16, 16)
    assert dataset.test.labels.tolist() == [448, 448, 441, 441, 385, 385]
    cifar = DatasetSpec(name="cifar10", root="cifar", test="imagenetv2", test_root="imagenetv2")
    write_cifar(tmp_path / "cifar")
    with pytest.raises(DataError, match="only fits ImageNet-1k"):
        load_for_spec(cifar, tmp_path)


def test_paths_may_not_escape_the_data_root(tmp_path: Path) -> None:
    data_root = tmp_path / "data"
    (data_root / "sets" / "cifar").mkdir(parents=True)
    outside = tmp_path / "secret"
    outside.mkdir()
    (data_root / "link").symlink_to(outside)
    assert resolve_data_path(data_root, "sets/cifar") == (data_root / "sets" / "cifar").resolve()
    assert resolve_data_path(data_root, data_root / "sets") == (data_root / "sets").resolve()
    for escape in ("../secret", "sets/../../secret", "link", "link/x", str(outside), "/etc"):
        with pytest.raises(DataError, match="escapes the data root"):
            resolve_data_path(data_root, escape)
    assert resolve_data_path(None, outside) == outside.resolve()  # CLI: no restriction
    spec = DatasetSpec(name="cifar10", root="../secret")
    with pytest.raises(DataError, match="escapes the data root"):
        load_for_spec(spec, data_root)
    with pytest.raises(DataError, match="escapes the data root"):
        load_for_spec(
            DatasetSpec(name="imagenetv2", root="sets", map_clsloc="link/m.txt"), data_root
        )


# ---------------------------------------------------------------- digits and synthetic


def test_digits_split_is_fixed_and_upscales() -> None:
    a = load_dataset("digits", None, seed=1)
    b = load_dataset("digits", None, seed=2, image_size=16)
    assert (len(a.train), len(a.val or []), len(a.test or [])) == (1078, 359, 360)
    assert torch.equal(a.train.labels, b.train.labels)  # the split ignores the experiment seed
    assert a.image_size == 8 and b.image_size == 16
    assert int(a.train.images.max()) == 255 and torch.equal(
        a.train.images[:, 0], a.train.images[:, 2]
    )


def test_synthetic_is_seeded_and_learnable() -> None:
    data = load_dataset("synthetic", None, seed=3, num_train=400, num_classes=5, image_size=16)
    assert torch.equal(
        data.train.images,
        load_dataset(
            "synthetic", None, seed=3, num_train=400, num_classes=5, image_size=16
        ).train.images,
    )
    assert not torch.equal(
        data.train.images,
        load_dataset(
            "synthetic", None, seed=4, num_train=400, num_classes=5, image_size=16
        ).train.images,
    )
    assert data.val is not None and len(data.val) == 100 and data.test is not None
    # Nearest class mean on the training images already separates the validation images.
    x = data.train.images.float().flatten(1)
    means = torch.stack([x[data.train.labels == k].mean(0) for k in range(5)])
    guess = torch.cdist(data.val.images.float().flatten(1), means).argmin(1)
    assert (guess == data.val.labels).float().mean() > 0.9
