"""The last body of each figure the API tagged with an ETag, to ask for it with If-None-Match.

A live dashboard redraws every few seconds; the API answers 304 Not Modified, with no body,
for every figure that did not change, and the client reads the body it holds. Bodies are kept
as the bytes received (each read gives fresh objects to mutate) under a cap on their total size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

MAX_BYTES = 8 * 1024 * 1024  # a page's figures are a few hundred kB; a runs selection 600 kB


class TaggedBodies:
    """Least-recently-used (ETag, body) per request, at most `max_bytes` of bodies in all."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._bodies: OrderedDict[Hashable, tuple[str, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[str, bytes] | None:
        with self._lock:
            held = self._bodies.get(key)
            if held is not None:
                self._bodies.move_to_end(key)
            return held

    def put(self, key: Hashable, etag: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            old = self._bodies.pop(key, None)
            self._size += len(body) - (len(old[1]) if old else 0)
            self._bodies[key] = (etag, body)
            while self._size > self.max_bytes:
                _, (_, dropped) = self._bodies.popitem(last=False)
                self._size -= len(dropped)
