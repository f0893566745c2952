"""ImageNetV2 (Recht et al. 2019, modestyachts/ImageNetV2), e.g. the TopImages variant.

`<root>/<0..999>/*.jpeg`, ten per class; folder k holds the class that is k-th in the SORTED
wnid list (torchvision's ImageFolder order). Downsampled ImageNet labels follow the ILSVRC devkit
`map_clsloc.txt` order instead, so each folder is mapped wnid by wnid through that file. Folder
names are parsed as integers: a string sort would put "10" before "2".
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from core.data.base import DataError, Dataset, Split
from core.data.common import IMAGENET_MEAN, IMAGENET_STD, DataOptions, require_root
from core.data.registry import DATASETS

DEFAULT_SIZE = 32
MAP_NAME = "map_clsloc.txt"


def packaged_map() -> Path | None:
    """The ILSVRC2012 devkit map_clsloc.txt shipped as package data, if installed."""
    path = Path(str(importlib.resources.files("core.data").joinpath(MAP_NAME)))
    return path if path.is_file() else None


def find_map(root: Path | None, given: Path | None) -> Path:
    """The map_clsloc.txt to use: the given one, else <root>/map_clsloc.txt, else the shipped."""
    if given is not None:
        if not given.is_file():
            raise DataError(f"{given}: map_clsloc file does not exist")
        return given
    if root is not None and (root / MAP_NAME).is_file():
        return root / MAP_NAME
    shipped = packaged_map()
    if shipped is None:
        raise DataError(
            f"imagenetv2 needs the ILSVRC2012 devkit {MAP_NAME} (lines 'n02119789 1 kit_fox') "
            f"to map its folders to Downsampled ImageNet labels; put it at {root}/{MAP_NAME} "
            "or pass map_clsloc"
        )
    return shipped


def read_map(path: Path) -> dict[str, int]:
    """wnid -> 0-based Downsampled ImageNet label, checked to be a permutation of 1..N."""
    mapping: dict[str, int] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(f"{path}: cannot read map_clsloc: {error}") from None
    for number, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2 or not fields[1].isdigit():
            raise DataError(f"{path}:{number}: expected 'wnid label name', got {line!r}")
        if fields[0] in mapping:
            raise DataError(f"{path}:{number}: wnid {fields[0]} appears twice")
        mapping[fields[0]] = int(fields[1]) - 1
    if sorted(mapping.values()) != list(range(len(mapping))):
        raise DataError(f"{path}: labels must be 1..{len(mapping)}, each once")
    return mapping


def class_folders(root: Path, count: int) -> list[tuple[int, Path]]:
    """(folder number, folder) for every class folder, in numeric order."""
    folders = []
    for entry in root.iterdir():
        if not entry.is_dir():
            continue  # map_clsloc.txt and other files may sit beside the class folders
        if not entry.name.isdigit():
            raise DataError(f"{entry}: class folders must be named 0..{count - 1}")
        index = int(entry.name)
        if index >= count:
            raise DataError(f"{entry}: folder number {index} is past the {count} classes")
        folders.append((index, entry))
    if not folders:
        raise DataError(f"{root}: no class folders 0..{count - 1} found")
    return sorted(folders)


# The paper's code resized ImageNetV2 with LANCZOS; Downsampled ImageNet itself was box-filtered.
RESAMPLING = {"lanczos": Image.Resampling.LANCZOS, "box": Image.Resampling.BOX}


def read_image(path: Path, size: int, resample: str = "lanczos") -> np.ndarray:
    """One image as uint8 3×S×S: RGB, resized to S×S with `resample` (lanczos or box)."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as error:
        raise DataError(f"{path}: not a readable image ({error})") from None
    if rgb.size != (size, size):
        rgb = rgb.resize((size, size), RESAMPLING[resample])
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def load_imagenetv2_split(
    root: Path, size: int, map_path: Path, resample: str = "lanczos"
) -> tuple[Split, int]:
    """All images under `root` with Downsampled ImageNet labels, and the class count."""
    mapping = read_map(map_path)
    sorted_wnids = sorted(mapping)  # folder k is the k-th wnid in sorted order
    files: list[tuple[Path, int]] = []
    for index, folder in class_folders(root, len(sorted_wnids)):
        label = mapping[sorted_wnids[index]]
        files.extend((path, label) for path in sorted(folder.iterdir()))
    if not files:
        raise DataError(f"{root}: class folders hold no images")
    images = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for i, (path, _) in enumerate(files):
        if not path.is_file():
            raise DataError(f"{path}: unexpected folder inside a class folder")
        images[i] = read_image(path, size, resample)
    labels = torch.tensor([label for _, label in files], dtype=torch.int64)
    return Split(torch.from_numpy(images), labels), len(mapping)


@DATASETS.register("imagenetv2")
def load_imagenetv2(root: Path | None, opts: DataOptions) -> Dataset:
    """ImageNetV2 on its own: an evaluation set, so its images are both 'train' and 'test'."""
    root = require_root(root, "imagenetv2")
    map_path = find_map(root, opts.map_clsloc)
    size = opts.image_size or DEFAULT_SIZE
    split, num_classes = load_imagenetv2_split(root, size, map_path, opts.test_resample)
    return Dataset(split, None, split, num_classes, IMAGENET_MEAN, IMAGENET_STD)
