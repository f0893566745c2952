"""Failed sign-ins per (user name, client address): after too many, refuse for a while (429)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

MAX_KEYS = 10_000  # bounds the memory a spray of made-up names can take


class LoginThrottle:
    """`limit` failures within `lockout` seconds lock a key until the oldest of them is that old.

    Kept in the API process: one uvicorn process per deployment, as `initlab up` and the
    compose file run it.
    """

    def __init__(
        self, limit: int, lockout: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.lockout, self.clock = limit, lockout, clock
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.lockout:
            times.popleft()
        return times

    def retry_after(self, key: tuple[str, str]) -> int | None:
        """Whole seconds until `key` may try again, or None when it may now."""
        with self._lock:
            now = self.clock()
            times = self._recent(key, now)
            if len(times) < self.limit:
                return None
            return max(1, math.ceil(times[-self.limit] + self.lockout - now))

    def failed(self, key: tuple[str, str]) -> int:
        """Count a failure; how many more `key` may have before it must wait."""
        with self._lock:
            now = self.clock()
            if len(self._failures) >= MAX_KEYS:
                self._failures = {k: t for k, t in self._failures.items() if self._recent(k, now)}
            times = self._recent(key, now)
            times.append(now)
            self._failures[key] = deque(list(times)[-self.limit:], maxlen=self.limit)
            return max(0, self.limit - len(times))

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._failures.pop(key, None)
