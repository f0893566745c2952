"""Testing only: a process whose clock is off by INITLAB_TEST_CLOCK_SKEW seconds.

Put this folder first on PYTHONPATH and Python imports it at start-up, before anything reads
the time: time.time, time.time_ns and datetime.now/utcnow all answer the skewed time, as on a
host whose clock drifted.
"""

from __future__ import annotations

import datetime as _datetime
import os
import time as _time

SKEW = float(os.environ.get("INITLAB_TEST_CLOCK_SKEW") or 0)

if SKEW:
    _real_time, _real_time_ns = _time.time, _time.time_ns

    def _time_skewed() -> float:
        return _real_time() + SKEW

    def _time_ns_skewed() -> int:
        return _real_time_ns() + int(SKEW * 1e9)

    _time.time, _time.time_ns = _time_skewed, _time_ns_skewed

    class _SkewedDatetime(_datetime.datetime):
        @classmethod
        def now(cls, tz: _datetime.tzinfo | None = None) -> _datetime.datetime:  # type: ignore[override]
            return super().now(tz) + _datetime.timedelta(seconds=SKEW)

        @classmethod
        def utcnow(cls) -> _datetime.datetime:  # type: ignore[override]
            return super().utcnow() + _datetime.timedelta(seconds=SKEW)

    _datetime.datetime = _SkewedDatetime  # type: ignore[misc]
