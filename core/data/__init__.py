"""Data sets: `load_dataset(name, root, **options)` loads any registered data set.

The loaders (core.data.loading) need torch; importing this package does not, so the API can
check data paths (core.data.paths) and catch DataError without loading torch. The loading names
are imported from core.data.loading on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.data.errors import DataError
from core.data.paths import resolve_data_path

if TYPE_CHECKING:
    from core.data.base import Dataset, Split
    from core.data.loading import DATASETS, load_dataset, load_for_spec

__all__ = [
    "DATASETS", "DataError", "Dataset", "Split", "load_dataset", "load_for_spec",
    "resolve_data_path",
]


def __getattr__(name: str) -> Any:
    """A name of core.data.loading, which loads torch and registers every loader."""
    if name not in __all__:  # DataError and resolve_data_path never get here
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from core.data import loading

    return getattr(loading, name)
