"""Testing only: a process whose clock is off by INITLAB_TEST_CLOCK_SKEW seconds.

Put this folder first on PYTHONPATH and Python imports it at start-up, before anything reads
the time. time.time and time.time_ns (what logging, Celery and kombu read) answer the skewed
time everywhere; datetime.now/utcnow answer it inside InitLab's own packages, whose `datetime`
name is swapped for a skewed subclass as each module loads (swapping the class for the whole
process would crash C extensions such as pyarrow that check its size).
"""

from __future__ import annotations

import datetime as _datetime
import importlib.abc
import os
import sys
import time as _time
from types import ModuleType
from typing import Any

SKEW = float(os.environ.get("INITLAB_TEST_CLOCK_SKEW") or 0)
PACKAGES = ("api", "core", "runqueue", "store", "worker")


class SkewedDatetime(_datetime.datetime):
    """datetime whose now() and utcnow() are SKEW seconds off."""

    @classmethod
    def now(cls, tz: _datetime.tzinfo | None = None) -> Any:
        return _datetime.datetime.now(tz) + _datetime.timedelta(seconds=SKEW)

    @classmethod
    def utcnow(cls) -> Any:
        return _datetime.datetime.utcnow() + _datetime.timedelta(seconds=SKEW)


class _SkewOwnModules(importlib.abc.MetaPathFinder):
    """After one of InitLab's modules loads, point its `datetime` name at SkewedDatetime."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name.split(".")[0] not in PACKAGES:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = getattr(finder, "find_spec", lambda *a: None)(name, path, target)
            if spec is not None and spec.loader is not None:
                real = spec.loader.exec_module

                def exec_module(module: ModuleType, _real: Any = real) -> None:
                    _real(module)
                    if getattr(module, "datetime", None) is _datetime.datetime:
                        module.datetime = SkewedDatetime  # type: ignore[attr-defined]

                spec.loader.exec_module = exec_module
                return spec
        return None


if SKEW:
    _real_time, _real_time_ns = _time.time, _time.time_ns
    _time.time = lambda: _real_time() + SKEW
    _time.time_ns = lambda: _real_time_ns() + int(SKEW * 1e9)
    sys.meta_path.insert(0, _SkewOwnModules())
