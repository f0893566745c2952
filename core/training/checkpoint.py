"""Checkpoints as plain dicts, written atomically so a crash or a full disk never loses the last."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be written or read; the previous one on disk is untouched."""


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` to a temporary file, fsync it, then rename it over `path`."""
    # Serialise in memory first: torch.save reports a full disk as an obscure RuntimeError
    # from its zip writer, a plain write as OSError (ENOSPC) naming the cause.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(buffer.getbuffer())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise CheckpointError(f"cannot write checkpoint {path}: {error}") from error
        raise


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint with `weights_only=True`: tensors and plain data, never code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # corrupt, truncated or hostile files all end here
        raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not an InitLab checkpoint")
    return state
