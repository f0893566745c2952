"""A small in-process cache of computed results (summary, curves), keyed by a results version.

The summary of a 120-run experiment takes a few hundred milliseconds of statistics; a finished
experiment's never changes, and a live dashboard asks for the same figures every few seconds.
Each entry is stored with the version it was computed at (api.crud.results_version) and used
only while the version is unchanged, so a new epoch, run state or retry recomputes it. Entries
are encoded JSON bytes, ready to send.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.encoders import jsonable_encoder
from fastapi.responses import Response

STALE_HEADER = "X-Results-Stale"
log = logging.getLogger(__name__)


def encode(content: Any) -> bytes:
    """JSON as FastAPI's JSONResponse writes it. Results are plain dicts, lists and numbers, so
    json.dumps does the walk (a 600 kB body in a tenth of jsonable_encoder's time), and only
    what it cannot write (datetimes) goes through jsonable_encoder."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                      separators=(",", ":"), default=jsonable_encoder)
    return text.encode("utf-8")


class ResultCache:
    """Least-recently-used cache of encoded JSON bodies, each valid for one version."""

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        # One background recomputation at a time, whatever the number of open dashboards.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="results")
        self._refreshing: set[Hashable] = set()

    def get(self, key: Hashable, version: Hashable) -> bytes | None:
        """The body stored for `key` if it was computed at `version`."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, version: Hashable, body: bytes) -> None:
        """Store `body` for `key` at `version`, dropping the least recently used beyond size."""
        with self._lock:
            self._entries[key] = (version, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def respond_while_refreshing(
        self, key: Hashable, version: Hashable, compute: Callable[[], Any]
    ) -> Response:
        """Like respond, but a body of an older version is sent at once (header
        `X-Results-Stale: 1`) while `compute` runs in the background; the next request gets
        its result. For figures that change with every epoch anyway (partial summaries of a live
        experiment), where a few seconds' lag is worth more than seconds per request.
        `compute` must open its own database session: the request's is closed by then."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] == version:
            return self.respond(key, version, compute)
        with self._lock:
            start = key not in self._refreshing
            self._refreshing.add(key)
        if start:
            self._background.submit(self._refresh, key, version, compute)
        return Response(content=entry[1], media_type="application/json",
                        headers={STALE_HEADER: "1"})

    def _refresh(self, key: Hashable, version: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self.put(key, version, encode(compute()))
        except Exception:  # the stale body stays; the next request tries again
            log.exception("recomputing %s failed", key)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def respond(self, key: Hashable, version: Hashable, compute: Callable[[], Any]) -> Response:
        """The cached body for (key, version), or `compute()` encoded, stored and sent."""
        body = self.get(key, version)
        if body is None:
            body = encode(compute())
            self.put(key, version, body)
        return Response(content=body, media_type="application/json")
