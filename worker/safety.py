"""Refuse set-ups that cannot be safe: the embedded defaults shared by several hosts."""

from __future__ import annotations

from sqlalchemy import inspect

from store import workers
from store.config import Settings
from store.db import get_database


def unsafe_setup(settings: Settings, host: str) -> str | None:
    """The one-line refusal when this worker, on SQLite or the filesystem broker, would join a
    store where another host works; None when the set-up is safe."""
    embedded = [
        name
        for name, used in (
            ("SQLite", settings.database_url.startswith("sqlite")),
            ("the filesystem broker", settings.is_embedded_broker),
        )
        if used
    ]
    if not embedded:
        return None
    db = get_database(settings.database_url)
    if not inspect(db.engine).has_table("worker"):
        return None  # a store not migrated yet has no host registered
    others = workers.other_hosts(db, host=host, timeout=settings.heartbeat_timeout)
    if not others:
        return None
    # SQLite's locks (WAL) are unsafe over a network file system, and its now() is each
    # host's own clock; the file broker's renames are no safer there.
    return (
        f"refusing to start on host {host}: {' and '.join(embedded)} serve one host only, and "
        f"this store has live workers on {', '.join(others)}; for several hosts use PostgreSQL "
        "(INITLAB_DATABASE_URL) and Redis (INITLAB_BROKER_URL)"
    )
