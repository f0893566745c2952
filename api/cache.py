"""A small in-process cache of computed results (summary, curves), keyed by a results version.

The summary of a 120-run experiment takes a few hundred milliseconds of statistics; a finished
experiment's never changes, and a live dashboard asks for the same figures every few seconds.
Each entry is stored with the version it was computed at (api.crud.results_version) and used
only while the version is unchanged, so a new epoch, run state or retry recomputes it. Entries
are encoded JSON bytes, ready to send.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Stored:
    version: Hashable
    body: bytes
    etag: str  # of the body: a client that holds it is answered 304 Not Modified


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


def _send(stored: Stored, if_none_match: str | None, headers: dict[str, str]) -> Response:
    """The body, or 304 without it where the client already holds this very body."""
    headers = {"ETag": stored.etag, **headers}
    if if_none_match is not None and stored.etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers=headers)
    return Response(content=stored.body, media_type="application/json", headers=headers)


class ResultCache:
    """Least-recently-used cache of encoded JSON bodies, each valid for one version.

    Each body goes with an ETag: a dashboard that sends If-None-Match with the body it holds
    gets 304 and no body while the figures are unchanged (a live tick fetches only what changed).
    """

    def __init__(self, size: int = 128) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, Stored] = OrderedDict()
        self._lock = threading.Lock()
        # One background recomputation at a time, whatever the number of open dashboards.
        self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="results")
        self._refreshing: set[Hashable] = set()

    def get(self, key: Hashable, version: Hashable) -> bytes | None:
        """The body stored for `key` if it was computed at `version`."""
        stored = self._stored(key, version)
        return None if stored is None else stored.body

    def _stored(self, key: Hashable, version: Hashable | None = None) -> Stored | None:
        """The entry of `key` (only if computed at `version`, where one is given)."""
        with self._lock:
            stored = self._entries.get(key)
            if stored is None or (version is not None and stored.version != version):
                return None
            self._entries.move_to_end(key)
            return stored

    def put(self, key: Hashable, version: Hashable, body: bytes) -> Stored:
        """Store `body` for `key` at `version`, dropping the least recently used beyond size."""
        stored = Stored(version, body, _etag(body))
        with self._lock:
            self._entries[key] = stored
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return stored

    def respond_while_refreshing(
        self, key: Hashable, version: Hashable, compute: Callable[[], Any],
        if_none_match: str | None = None,
    ) -> Response:
        """Like respond, but a body of an older version is sent at once (header
        `X-Results-Stale: 1`) while `compute` runs in the background; the next request gets
        its result. For figures that change with every epoch anyway (partial summaries of a live
        experiment), where a few seconds' lag is worth more than seconds per request.
        `compute` must open its own database session: the request's is closed by then."""
        stored = self._stored(key)
        if stored is None or stored.version == version:
            return self.respond(key, version, compute, if_none_match)
        with self._lock:
            start = key not in self._refreshing
            self._refreshing.add(key)
        if start:
            self._background.submit(self._refresh, key, version, compute)
        return _send(stored, if_none_match, {STALE_HEADER: "1"})

    def _refresh(self, key: Hashable, version: Hashable, compute: Callable[[], Any]) -> None:
        try:
            self.put(key, version, encode(compute()))
        except Exception:  # the stale body stays; the next request tries again
            log.exception("recomputing %s failed", key)
        finally:
            with self._lock:
                self._refreshing.discard(key)

    def respond(
        self, key: Hashable, version: Hashable, compute: Callable[[], Any],
        if_none_match: str | None = None,
    ) -> Response:
        """The cached body for (key, version), or `compute()` encoded, stored and sent; 304
        where `if_none_match` names it."""
        stored = self._stored(key, version) or self.put(key, version, encode(compute()))
        return _send(stored, if_none_match, {})
