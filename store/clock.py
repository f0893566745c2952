"""Times that decide ownership come from the database's clock, never from a worker's.

Hosts disagree about the time; a heartbeat written with one host's clock and judged stale by
another's makes runs bounce between workers once the skew passes the timeout. Every heartbeat,
progress mark, lease expiry and cut-off is therefore computed by the database itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from store.models import UTCDateTime


class db_time(FunctionElement[datetime]):  # noqa: N801 (reads as a SQL function)
    """The database's current time plus `offset` seconds (negative: a cut-off in the past)."""

    type = UTCDateTime()
    inherit_cache = False
    name = "db_time"

    def __init__(self, offset: float = 0.0) -> None:
        super().__init__()
        self.offset = float(offset)


@compiles(db_time, "sqlite")
def _sqlite_time(element: db_time, _compiler: Any, **_: Any) -> str:
    # Millisecond text in the layout SQLAlchemy stores datetimes in, so comparisons hold.
    return f"strftime('%Y-%m-%d %H:%M:%f', 'now', '{element.offset:+.3f} seconds')"


@compiles(db_time, "postgresql")
def _postgres_time(element: db_time, _compiler: Any, **_: Any) -> str:
    return f"(statement_timestamp() + make_interval(secs => {element.offset:.3f}))"


def database_now(session: Session) -> datetime:
    """The database's clock, read once (for ORM assignments in the same transaction)."""
    value = session.scalar(select(db_time()))
    assert value is not None
    return value
