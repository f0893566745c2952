"""Engine, sessions and migrations: one code path for SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

_IMMEDIATE = "initlab_immediate"


def _sqlite_engine(url: str) -> Engine:
    """SQLite in WAL mode, with write transactions that take the write lock up front."""
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is lazy).
        dbapi_connection.isolation_level = None
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # BEGIN IMMEDIATE waits (busy timeout) for the write lock instead of failing with
        # SQLITE_BUSY when a read-then-write transaction meets a concurrent writer.
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL and proper transactions, PostgreSQL a pre-ping."""
    if make_url(url).get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # Per process: at most pool_size + max_overflow connections (INITLAB_DB_POOL_SIZE and
    # INITLAB_DB_MAX_OVERFLOW; 5 + 5). A worker slot needs 3 at most (its task, its
    # housekeeper, one heartbeat loop): compose gives workers 2 + 1.
    pool = int(os.environ.get("INITLAB_DB_POOL_SIZE") or 5)
    overflow = int(os.environ.get("INITLAB_DB_MAX_OVERFLOW") or 5)
    return create_engine(url, pool_pre_ping=True, pool_size=pool, max_overflow=overflow)


class Database:
    """An engine with a read session and a write transaction, both as context managers."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.dialect = self.engine.dialect.name
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session for reading; nothing is committed."""
        with self._sessions() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that holds the write lock (SQLite) and commits on success."""
        with self._sessions() as session:
            session.connection(execution_options={_IMMEDIATE: True})
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


_databases: dict[str, Database] = {}
_lock = threading.Lock()


def get_database(url: str) -> Database:
    """The process-wide Database for `url` (one engine and pool per URL)."""
    with _lock:
        if url not in _databases:
            _databases[url] = Database(url)
        return _databases[url]


def alembic_config(url: str) -> Any:
    """An Alembic Config pointing at migrations/ and `url`."""
    from alembic.config import Config

    import migrations

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (creating a SQLite file's folder first)."""
    from alembic import command

    if make_url(url).get_backend_name() == "sqlite":
        make_engine(url).dispose()  # creates the folder
    command.upgrade(alembic_config(url), revision)
