"""Database access: one async engine, read connections and serialised write transactions.

SQLite runs in WAL mode and takes its write lock up front (``BEGIN IMMEDIATE``) so that two writers
never deadlock upgrading a read lock; an in-process lock keeps this process's writers in line too.
PostgreSQL goes through SQLAlchemy's connection pool.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from callout.errors import Unavailable

_AFTER_COMMIT = "callout_after_commit"
_DATABASE = "callout_database"


def signal_deliveries_after_commit(conn: AsyncConnection) -> None:
    """Wake this process's workers once the current write transaction commits."""
    database = conn.info.get(_DATABASE)
    if isinstance(database, Database):
        conn.info[_AFTER_COMMIT].append(database.deliveries_enqueued.set)


# The connection type services pass around without importing SQLAlchemy themselves.
Connection = AsyncConnection


def redact_url(url: str) -> str:
    """The database URL with any password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """The process's handle on the database."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        self.engine: AsyncEngine = _create_engine(url, self.is_sqlite)
        self._write_lock = asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()
        self._closed = False
        # Set after a commit that enqueued deliveries: this process's workers wake without polling.
        self.deliveries_enqueued = asyncio.Event()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """Yield a connection for queries; its implicit transaction is rolled back afterwards."""
        self._ensure_open()
        with _unavailable_on_connection_errors():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """Yield a connection inside a write transaction committed on success."""
        self._ensure_open()
        with _unavailable_on_connection_errors():
            async with self._write_lock, self.engine.connect() as conn:
                conn = await conn.execution_options(callout_immediate=True)
                hooks: list[Callable[[], None]] = []
                conn.info[_AFTER_COMMIT] = hooks
                conn.info[_DATABASE] = self
                async with conn.begin() as transaction:
                    yield conn
                    with _unavailable_on_connection_errors(committing=True):
                        await transaction.commit()
                for hook in hooks:
                    hook()

    async def ping(self) -> None:
        """Raise Unavailable unless the database answers a trivial query."""
        try:
            async with self.read() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except Unavailable:
            raise
        except Exception as error:  # any other driver error means "not ready" too
            raise Unavailable("Errors.Database.Unavailable", type(error).__name__) from error

    async def close(self) -> None:
        """Release every pooled connection; later use is Unavailable (SQLAlchemy would silently reopen)."""
        self._closed = True
        await self.engine.dispose()

    def _ensure_open(self) -> None:
        if self._closed:
            raise Unavailable("Errors.Database.Unavailable", "the database has been closed")


UNREACHABLE = "the database cannot be reached"
CONNECTION_LOST = "the database connection was lost"
OUTCOME_UNKNOWN = "the connection broke while committing: the change may or may not have been stored"


@contextlib.contextmanager
def _unavailable_on_connection_errors(committing: bool = False) -> Iterator[None]:
    # A lost or refused connection is the database being unavailable, not a bug: answer 503. While
    # committing, the server may have committed before the connection broke: the caller must not
    # assume either way.
    try:
        yield
    except sa.exc.OperationalError as error:
        raise Unavailable("Errors.Database.Unavailable", OUTCOME_UNKNOWN if committing else UNREACHABLE) from error
    except sa.exc.DBAPIError as error:
        if error.connection_invalidated:
            detail = OUTCOME_UNKNOWN if committing else CONNECTION_LOST
            raise Unavailable("Errors.Database.Unavailable", detail) from error
        raise


def _create_engine(url: str, is_sqlite: bool) -> AsyncEngine:
    if not is_sqlite:
        # No pre-ping: it costs a round trip per checkout; a dropped connection invalidates the pool and
        # surfaces once as Unavailable instead.
        return create_async_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)
    engine = create_async_engine(url, connect_args={"timeout": 30})
    sa.event.listen(engine.sync_engine, "connect", _configure_sqlite)
    sa.event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (SQLAlchemy's pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(conn: sa.Connection) -> None:
    # Writers take the lock up front; readers run in autocommit, which in WAL mode never blocks and
    # saves two round trips per read.
    if conn.get_execution_options().get("callout_immediate", False):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
