"""Checkpoints at the artifact root: a local folder or any fsspec URL (s3://bucket/prefix).

The store keeps a checkpoint's *key* (`<run id>.<fence>.pt`), relative to the artifact root,
never an absolute path, so every host resolves it against its own root. Training writes each
execution's checkpoint to a local file (core.training.checkpoint: temporary file, fsync,
rename); on a remote root the worker then PUTs that file under its key (one request: an
object appears whole or not at all) before the epoch's rows commit the key.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import fsspec
from fsspec.implementations.local import LocalFileSystem

# A store that does not answer: fail fast and hand the run back, rather than hang a worker.
S3_CONFIG = {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}}


class HandBack(Exception):
    """What this host lacks to go on with a run (run_id) or with every run it holds (None):
    the run goes back to the queue for another host, never starts over."""

    def __init__(self, run_id: int | None, message: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class ArtifactUnavailable(HandBack):
    """A checkpoint that this host cannot read or write now (absent here, store unreachable,
    wrong credentials, corrupt)."""


def checkpoint_key(run_id: int, fence: int) -> str:
    """The key of one execution's checkpoint, relative to the artifact root."""
    return f"{run_id}.{fence}.pt"


def _fence_of(name: str, run_id: int) -> int | None:
    parts = name.rsplit("/", 1)[-1].split(".")
    if len(parts) == 3 and parts[0] == str(run_id) and parts[1].isdigit() and parts[2] == "pt":
        return int(parts[1])
    return None


def _options(root: str, s3_endpoint: str | None) -> dict[str, Any]:
    if not root.startswith(("s3://", "s3a://")):
        return {}
    options: dict[str, Any] = {"config_kwargs": S3_CONFIG}
    if s3_endpoint:
        options["endpoint_url"] = s3_endpoint
    return options  # keys: the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / profiles


class Artifacts:
    """One artifact root and the local folder where executions write their checkpoints."""

    def __init__(self, root: str, scratch: Path, s3_endpoint: str | None = None) -> None:
        self.root = root
        self.fs, path = fsspec.core.url_to_fs(root, **_options(root, s3_endpoint))
        self.base = str(path).rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        # A local root is written in place; a remote one through a local file of this host.
        self.folder = Path(self.base).resolve() if self.local else scratch.resolve()

    def where(self, key: str) -> str:
        """The full location of `key`, for messages and logs."""
        if os.path.isabs(key):  # a key stored before keys were relative: a path of some host
            return key
        return f"{self.root.rstrip('/')}/{key}"

    def _path(self, key: str) -> str:
        return key if os.path.isabs(key) else f"{self.base}/{key}"

    def local_file(self, key: str) -> Path:
        """Where this host's execution writes the checkpoint of `key`."""
        return self.folder / key

    def fetch(self, run_id: int, key: str, into: Path) -> None:
        """Copy the committed checkpoint `key` to `into` and check that it loads; else
        ArtifactUnavailable naming the key and the cause."""
        # Here, not at the top: the API imports the store and must not load torch.
        from core.training.checkpoint import load_checkpoint

        try:
            data = LocalFileSystem().cat_file(key) if os.path.isabs(key) else self._cat(key)
            into.parent.mkdir(parents=True, exist_ok=True)
            partial = into.with_name(f".{into.name}.fetch")
            partial.write_bytes(data)
            os.replace(partial, into)
            load_checkpoint(into)
        except Exception as error:  # missing, corrupt, botocore's endpoint and credential errors
            into.unlink(missing_ok=True)
            raise ArtifactUnavailable(
                run_id, f"checkpoint not readable here: {key}: {_cause(error)}"
            ) from error

    def _cat(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def push(self, run_id: int, key: str) -> None:
        """Make the local checkpoint of `key` the object under `key` (nothing to do on a
        local root, where it was written in place)."""
        if self.local:
            return
        try:
            self.fs.pipe_file(self._path(key), self.local_file(key).read_bytes())
        except Exception as error:  # unreachable store, credentials, a full bucket
            raise ArtifactUnavailable(
                run_id, f"checkpoint not writable here: {key}: {_cause(error)}"
            ) from error

    def discard(self, key: str) -> None:
        """Remove the checkpoint `key`, here and at the root; best effort, like drop_older."""
        self.local_file(key).unlink(missing_ok=True)
        if not self.local:
            with contextlib.suppress(Exception):
                self.fs.rm_file(self._path(key))

    def drop_older(self, run_id: int, fence: int, keep: str | None = None) -> None:
        """Remove the checkpoints of earlier executions of the run but `keep` (the committed
        one, until this execution commits its own); best effort, a leftover harms nothing."""
        kept = keep.rsplit("/", 1)[-1] if keep else None  # a legacy key is an absolute path
        with contextlib.suppress(Exception):
            for name in self.fs.glob(f"{self.base}/{run_id}.*.pt"):
                old = _fence_of(str(name), run_id)
                if old is not None and old < fence and str(name).rsplit("/", 1)[-1] != kept:
                    self.fs.rm_file(name)
        for path in self.folder.glob(f"{run_id}.*.pt"):  # this host's local files
            old = _fence_of(path.name, run_id)
            if old is not None and old < fence and path.name != kept:
                path.unlink(missing_ok=True)


def _cause(error: BaseException) -> str:
    """The error in one line: its type when the message alone would not say it."""
    if isinstance(error, FileNotFoundError):
        return "no such file or object"
    text = " ".join(str(error).split()) or type(error).__name__
    if type(error).__name__ == "CheckpointError":  # its message says it all
        return text[:500]
    return f"{type(error).__name__}: {text}"[:500]


def artifacts_from(settings: Any) -> Artifacts:
    """The artifact root of these settings (store.config.Settings)."""
    return Artifacts(settings.artifact_root, settings.scratch_dir, settings.s3_endpoint)
