"""Worker slots' rows: each live slot beats its row (database clock); /health lists them."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.clock import database_now, db_time
from store.db import Database
from store.models import Worker


def register_worker(db: Database, *, name: str, host: str, pid: int, device: str) -> None:
    """Add (or replace) this worker slot's row."""
    with db.transaction() as session:
        session.execute(delete(Worker).where(Worker.name == name))
        now = database_now(session)
        session.add(
            Worker(name=name, host=host, pid=pid, device=device, started=now, heartbeat=now)
        )


def beat_worker(db: Database, *, name: str, run_id: int | None) -> None:
    """Refresh the slot's heartbeat and the run it works on."""
    with db.transaction() as session:
        session.execute(
            update(Worker).where(Worker.name == name).values(heartbeat=db_time(), run_id=run_id)
        )


def unregister_worker(db: Database, *, name: str) -> None:
    """Remove the slot's row (a clean shutdown)."""
    with db.transaction() as session:
        session.execute(delete(Worker).where(Worker.name == name))


def live_workers(session: Session, *, timeout: float) -> list[Worker]:
    """Slots whose heartbeat is younger than `timeout` seconds, by name."""
    query = select(Worker).where(Worker.heartbeat >= db_time(-timeout)).order_by(Worker.name)
    return list(session.scalars(query))


def other_hosts(db: Database, *, host: str, timeout: float) -> list[str]:
    """The hosts other than `host` with a live worker slot in this store."""
    with db.session() as session:
        return sorted({w.host for w in live_workers(session, timeout=timeout) if w.host != host})


def serves(worker_device: str, device_class: str) -> bool:
    """Whether a worker slot of `worker_device` ("cuda 0", "cpu") takes runs of the class."""
    return device_class == "any" or worker_device.startswith(device_class)


def waiting_for(live: list[Worker], device_class: str) -> str | None:
    """'waiting for a cuda worker' when no live slot can take runs of `device_class`."""
    if any(serves(w.device or "", device_class) for w in live):
        return None
    return f"waiting for a {'' if device_class == 'any' else device_class + ' '}worker"
