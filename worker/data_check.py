"""Data per host: a worker without a run's data hands the run back (another host may have
it); a run resumed on data other than what it read before fails, naming both digests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from core.data.base import Dataset
from core.data.paths import resolve_data_path
from core.spec import ExperimentSpec
from store.artifacts import HandBack

# Digests by (dataset spec, data root): computed once per data set in this process.
_digests: dict[str, str] = {}


class DataUnavailable(HandBack):
    """The run's data is not on this host: every run of the group goes back to the queue."""


class DataChanged(RuntimeError):
    """A resumed run read other data than its earlier executions: its results would mix."""


def check_present(spec: ExperimentSpec, data_root: str | None) -> None:
    """DataUnavailable naming the first data path of the spec absent on this host."""
    for path in (spec.dataset.root, spec.dataset.test_root, spec.dataset.map_clsloc):
        if path is None:
            continue
        resolved = resolve_data_path(data_root, path)
        if not resolved.exists():
            raise DataUnavailable(None, f"data not on this host: {resolved}")


def data_digest(spec: ExperimentSpec, data_root: str | None, data: Dataset) -> str:
    """SHA-256 over every split's images and labels as loaded (format-independent: what the
    run reads, whatever files it came from); cached per data set and data root."""
    key = json.dumps([spec.dataset.model_dump(mode="json"), str(Path(data_root or "."))])
    if key not in _digests:
        sha = hashlib.sha256()
        for split in (data.train, data.val, data.test):
            for tensor in (split.images, split.labels) if split is not None else ():
                sha.update(str(tuple(tensor.shape)).encode())
                sha.update(tensor.detach().cpu().contiguous().numpy().data)  # no copy on a CPU
        _digests[key] = sha.hexdigest()
    return _digests[key]


def check_same(stored: str | None, read: str, where: str) -> None:
    """DataChanged when the run stored a digest and this host read different data."""
    if stored is not None and stored != read:
        raise DataChanged(
            f"the data differs from what this run read before: its executions read "
            f"sha256 {stored}, this host ({where}) read sha256 {read}; put the same data on "
            "every host, or retry the run with --fresh"
        )
