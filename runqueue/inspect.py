"""Which messages the broker holds: the task ids waiting in the queue or taken (unacked) within
the queue grace.

Read in pages (LRANGE and HMGET of PAGE entries at a time), so that no single broker request
grows with the queue (the unacked messages are a worker's one or two); only the worker that
holds the recovery lease reads it (worker/recovery.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable
from typing import Any

from runqueue.app import PRIORITY_STEPS, all_queues, embedded_folders
from runqueue.fs_transport import task_id_of
from store.config import Settings

PAGE = 1000


def _ids_of(raws: Iterable[bytes | str], held: bool) -> set[str]:
    """Task ids of raw Redis messages (`held`: an unacked entry, [message, exchange, key])."""
    ids = set()
    for raw in raws:
        try:
            message = json.loads(raw)
            ids.add((message[0] if held else message)["headers"]["id"])
        except (ValueError, KeyError, TypeError, IndexError):
            continue
    return ids


def _redis_task_ids(settings: Settings) -> set[str]:
    import redis

    client = redis.Redis.from_url(settings.broker_url, socket_timeout=5)
    prefix = settings.redis_key_prefix
    keys = [
        f"{prefix}{queue}{suffix}"
        for queue in all_queues(settings)
        for suffix in ["", *(f":{p}" for p in PRIORITY_STEPS if p)]
    ]
    ids: set[str] = set()
    for key in keys:
        start = 0
        while page := client.lrange(key, start, start + PAGE - 1):
            ids |= _ids_of(page, held=False)
            start += PAGE
    # A message taken within the grace counts: its worker is claiming the run, or trains it. One
    # taken longer ago whose run is still queued (the only runs this is asked about) was taken
    # by a worker that died before its claim: it stays unacked until Redis's visibility timeout
    # (hours), so it counts as lost and the run is published again.
    since = time.time() - settings.queue_grace  # kombu scores a delivery with its time.time()
    tags: list[Any] = list(client.zrangebyscore(f"{prefix}unacked_index", since, "+inf"))
    for start in range(0, len(tags), PAGE):
        held = client.hmget(f"{prefix}unacked", tags[start : start + PAGE])
        ids |= _ids_of((raw for raw in held if raw is not None), held=True)
    return ids


def pending_task_ids(settings: Settings) -> set[str] | None:
    """Task ids of the messages waiting in the broker or taken within the queue grace (a taken
    message leaves the embedded broker's folder at once); None where it cannot be inspected."""
    if settings.is_embedded_broker:
        folder = embedded_folders(settings)["queue"]
        names = os.listdir(folder) if folder.is_dir() else []
        queues = all_queues(settings)
        return {t for n in names for q in queues if (t := task_id_of(n, q))}
    if settings.broker_url.startswith(("redis://", "rediss://")):
        return _redis_task_ids(settings)
    return None
