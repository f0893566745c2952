"""A restricted unpickler for data-set files: numpy arrays, dicts and lists, nothing else.

Pickle files are untrusted input (DESIGN.md, "Datasets"): a pickle can name any importable
callable and have it called while loading. `find_class` here never imports anything; it answers
from a fixed table of the few numpy constructors that array pickles need, so a pickle that names
`os.system` (or anything else) is refused before any of it runs.
"""

from __future__ import annotations

import codecs
import io
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np

from core.data.base import DataError

try:  # numpy >= 2 moved the internals to numpy._core; old pickles still say numpy.core
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]
    from numpy.core import numeric as _numeric  # type: ignore[no-redef]

_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """Protocol-2 pickles store bytes as `_codecs.encode(text, 'latin1')`; allow only that."""
    if not isinstance(text, str) or encoding.lower() not in _LATIN1:
        raise pickle.UnpicklingError(f"_codecs.encode with encoding {encoding!r} is not allowed")
    return codecs.encode(text, "latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }
    # Both spellings: pickles written by numpy 1.x name numpy.core, by numpy 2.x numpy._core.
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = _multiarray._reconstruct
        table[(f"{package}.multiarray", "scalar")] = _multiarray.scalar
        table[(f"{package}.numeric", "_frombuffer")] = _numeric._frombuffer  # type: ignore[attr-defined]  # protocol 5
    return table


ALLOWED_GLOBALS = _allowed_globals()

# What a truncated or corrupt pickle raises from inside the C unpickler or numpy's setstate.
_CORRUPT = (
    pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
    AttributeError, UnicodeDecodeError, struct.error, OverflowError, RecursionError,
)


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler whose globals come only from ALLOWED_GLOBALS; anything else is a DataError."""

    def __init__(self, file: io.BufferedIOBase, *, source: str, encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"{self.source}: pickle refers to forbidden global {module}.{name}; refused"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"{self.source}: pickle uses persistent ids; refused")


def _str_keys(value: Any) -> Any:
    """CIFAR's pickles read with latin1 keep bytes keys (b'data'); make every dict key a str."""
    if isinstance(value, dict):
        return {
            (k.decode("latin1") if isinstance(k, bytes) else k): _str_keys(v)
            for k, v in value.items()
        }
    return value


def load_pickle(path: str | Path, *, encoding: str = "latin1") -> dict[str, Any]:
    """Load a pickled dict of numpy arrays/lists from `path` without running foreign code."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = RestrictedUnpickler(file, source=str(path), encoding=encoding).load()
    except DataError:
        raise
    except OSError as error:
        raise DataError(f"{path}: cannot read: {error.strerror or error}") from None
    except MemoryError:
        raise DataError(f"{path}: not a valid pickle (asks for too much memory)") from None
    except _CORRUPT as error:
        raise DataError(f"{path}: truncated or corrupt pickle ({error})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a pickled dict, got {type(data).__name__}")
    result: dict[str, Any] = _str_keys(data)
    return result
