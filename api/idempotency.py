"""Idempotency-Key on POST /experiments and /sweeps: a retried submit returns the first answer.

The key, a fingerprint of the request and the answer are stored in the same transaction as the
experiments, so an answer exists exactly when the experiments do, in every API process. A retry
with the same key and the same request gets the stored status, body and Location back (header
`Idempotent-Replayed: true`) and queues nothing; the same key with another request is a 422,
as the IETF draft "The Idempotency-Key HTTP Header Field" suggests. Of two concurrent requests
with one key, the second to commit fails on the key's primary key, rolls back whatever it
stored, and replays the first's answer. A key is kept INITLAB_IDEMPOTENCY_TTL (24 h): after
that it is forgotten, and the same key starts a new submission.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from sqlalchemy import delete
from sqlalchemy.orm import Session

from api.errors import invalid, item
from store.models import IdempotencyKey, utcnow

MAX_KEY = 200

Key = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=MAX_KEY,
        description="a unique string per submission (e.g. a UUID): a retry with the same key "
        "and body returns the first answer and queues nothing again (dry runs ignore it)",
    ),
]


def fingerprint(request: Request, body: bytes, caller: str | None = None) -> str:
    """SHA-256 of what makes two requests the same: caller, method, path, query, content type,
    body."""
    query = sorted(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "")
    head = repr((caller, request.method, request.url.path, query, content_type)).encode()
    return hashlib.sha256(head + b"\0" + body).hexdigest()


def _cutoff(ttl: float) -> datetime:
    return utcnow() - timedelta(seconds=ttl)


def replay(session: Session, key: str, digest: str, ttl: float) -> JSONResponse | None:
    """The stored answer of `key`, None if it is new or older than `ttl` seconds
    (INITLAB_IDEMPOTENCY_TTL), or 422 if it came with another request."""
    stored = session.get(IdempotencyKey, key)
    if stored is None or stored.created < _cutoff(ttl):
        return None
    if stored.fingerprint != digest:
        raise invalid(
            [
                item(
                    ["header", "Idempotency-Key"],
                    "this key was already used with a different request (method, path, query "
                    "or body); send a new key for a new submission",
                    "idempotency_key_reused",
                )
            ]
        )
    headers = {"Idempotent-Replayed": "true"}
    if stored.location:
        headers["Location"] = stored.location
    return JSONResponse(stored.response, status_code=stored.status_code, headers=headers)


def remember(
    session: Session,
    *,
    key: str,
    digest: str,
    status_code: int,
    body: Any,
    location: str,
    ttl: float,
) -> None:
    """Store the answer to `key` in the caller's transaction (flushed: a duplicate fails here),
    forgetting the keys older than `ttl` seconds first (an expired key may be used again)."""
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.created < _cutoff(ttl)))
    session.add(
        IdempotencyKey(
            key=key, fingerprint=digest, status_code=status_code, response=body, location=location
        )
    )
    session.flush()
