"""Keep every data path a spec names inside the server's data root."""

from __future__ import annotations

import os
from pathlib import Path

from core.data.errors import DataError


def resolve_data_path(data_root: str | Path | None, path: str | Path) -> Path:
    """`path` made absolute under `data_root`; refuses one that escapes it (via '..' or links).

    With `data_root` None there is no restriction: the CLI reads the user's own files.
    """
    try:
        if data_root is None:
            return Path(os.path.realpath(path))
        root = os.path.realpath(data_root)
        # realpath follows symlinks and folds '..', so the check sees where the path really leads.
        real = os.path.realpath(os.path.join(root, path))
    except (ValueError, OSError) as error:  # e.g. an embedded NUL byte
        raise DataError(f"path {str(path)!r} is not valid: {error}") from None
    if os.path.commonpath([root, real]) != root:
        raise DataError(f"path {str(path)!r} escapes the data root {root}")
    return Path(real)


def check_links_inside(folder: str | Path, data_root: str | Path | None) -> None:
    """Refuse a folder holding a symlink (file or folder, at any depth) that leads outside
    `data_root`: the folder itself being inside is not enough when a file in it is a link."""
    if data_root is None:
        return
    root = os.path.realpath(data_root)
    seen: set[str] = set()
    for current, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(current)
        if real in seen:  # a link cycle: already checked
            dirs[:] = []
            continue
        seen.add(real)
        for name in (*dirs, *files):
            path = os.path.join(current, name)
            if not os.path.islink(path):
                continue
            target = os.path.realpath(path)
            if os.path.commonpath([root, target]) != root:
                raise DataError(f"{path} is a link to {target}, outside the data root {root}")
