"""Database access: one async engine, read connections and write transactions retried on conflicts.

SQLite runs in WAL mode and takes its write lock up front (``BEGIN IMMEDIATE``) so that two writers
never deadlock upgrading a read lock; an in-process lock keeps this process's writers in line too.
PostgreSQL goes through SQLAlchemy's connection pool; its writers may deadlock or lose a race, so
``write`` runs the whole transaction again a few times before answering Unavailable (see
docs/concurrency.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from callout.errors import Unavailable
from callout.storage.failures import Failure, classify, describe_unreachable
from callout.storage.urls import parse_database_url

T = TypeVar("T")
log = structlog.get_logger("callout.database")
_AFTER_COMMIT = "callout_after_commit"
_DATABASE = "callout_database"
_HIDDEN = "***"
_SECRET_PARAMETERS = ("password", "sslpassword")


def signal_deliveries_after_commit(conn: AsyncConnection) -> None:
    """Wake this process's workers once the current write transaction commits."""
    database = conn.info.get(_DATABASE)
    if isinstance(database, Database):
        conn.info[_AFTER_COMMIT].append(database.deliveries_enqueued.set)


# The connection type services pass around without importing SQLAlchemy themselves.
Connection = AsyncConnection


def redact_url(url: str) -> str:
    """The database URL with any password hidden, for logs."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return "(a malformed database URL)"  # never echo it: it may hold a password
    # libpq also takes the password as a query parameter (?password=...).
    query = {key: _HIDDEN if key.lower() in _SECRET_PARAMETERS else value for key, value in parsed.query.items()}
    rendered = parsed.set(query=query).render_as_string(hide_password=True)
    return rendered.replace(f"={quote(_HIDDEN)}", f"={_HIDDEN}")


@dataclass(frozen=True)
class PoolSettings:
    """How many PostgreSQL connections one process keeps and opens, and how long a connect may take."""

    size: int = 10
    max_overflow: int = 10
    connect_timeout_seconds: float = 10.0


class Database:
    """The process's handle on the database.

    ``url`` may name the driver the way people write it (``postgres://``, ``postgresql://``); a URL
    callout cannot use is a ValueError saying so in one line.
    """

    def __init__(self, url: str, pool: PoolSettings | None = None) -> None:
        self.url = parse_database_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        pool = pool or PoolSettings()
        # Also used by connections made outside the pool (the LISTEN connection, storage/notify.py).
        self.connect_args = {} if self.is_sqlite else connect_arguments(self.url, pool)
        self.engine: AsyncEngine = _create_engine(self.url, self.is_sqlite, pool)
        self._write_lock = asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()
        self._closed = False
        # Set after a commit that enqueued deliveries: this process's workers wake without polling.
        self.deliveries_enqueued = asyncio.Event()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """Yield a connection for queries; its implicit transaction is rolled back afterwards."""
        self._ensure_open()
        with _database_errors_as_unavailable():
            async with self.engine.connect() as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """Yield a connection inside a write transaction committed on success."""
        self._ensure_open()
        with _database_errors_as_unavailable():
            async with self._write_lock, self.engine.connect() as conn:
                conn = await conn.execution_options(callout_immediate=True)
                hooks: list[Callable[[], None]] = []
                conn.info[_AFTER_COMMIT] = hooks
                conn.info[_DATABASE] = self
                async with conn.begin() as transaction:
                    yield conn
                    with _database_errors_as_unavailable(committing=True):
                        await transaction.commit()
                for hook in hooks:
                    hook()

    async def write(self, body: Callable[[AsyncConnection], Awaitable[T]], attempts: int | None = None) -> T:
        """Run ``body`` in a write transaction; on a write conflict roll back and run it again.

        ``body`` must be safe to re-run: it reads what it decides on inside the transaction and has
        no effect outside it (after-commit hooks only run for the attempt that commits).
        """
        attempts = attempts or WRITE_ATTEMPTS
        for attempt in range(1, attempts + 1):
            try:
                async with self.transaction() as conn:
                    return await body(conn)
            except WriteConflict:
                if attempt == attempts:
                    raise
                await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")  # the loop returns or raises

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


WRITE_ATTEMPTS = 5
_BACKOFF_BASE_SECONDS = 0.005
_BACKOFF_CAP_SECONDS = 0.2

CONNECTION_LOST = "the database connection was lost"
OUTCOME_UNKNOWN = "the connection broke while committing: the change may or may not have been stored"
BUSY = "the database is busy and did not store the change; retry"
CONFLICT = "the write conflicted with concurrent writes and was rolled back; retry"


class WriteConflict(Unavailable):
    """The database rolled the transaction back because of a concurrent write; nothing was stored."""

    def __init__(self) -> None:
        super().__init__("Errors.Database.Busy", CONFLICT)


def _backoff(attempt: int) -> float:
    # Full jitter: colliding writers spread out instead of colliding again in step.
    return random.uniform(0, min(_BACKOFF_CAP_SECONDS, _BACKOFF_BASE_SECONDS * 2**attempt))  # noqa: S311 - not a secret


@contextlib.contextmanager
def _database_errors_as_unavailable(committing: bool = False) -> Iterator[None]:
    # A database that is away or busy is not a bug: answer 503 with what the client can conclude.
    # Only a connection that broke while committing leaves the outcome unknown; an error the server
    # answered at commit means it rolled back.
    try:
        yield
    except sa.exc.DBAPIError as error:
        failure = classify(error)
        if failure is Failure.OTHER:
            raise
        raise _unavailable(failure, committing, error) from error


def _unavailable(failure: Failure, committing: bool, error: sa.exc.DBAPIError) -> Unavailable:
    if failure is Failure.CONFLICT:
        return WriteConflict()
    if failure is Failure.BUSY:
        return Unavailable("Errors.Database.Busy", BUSY)
    if committing:
        return Unavailable("Errors.Database.OutcomeUnknown", OUTCOME_UNKNOWN)
    if failure is Failure.LOST:
        return Unavailable("Errors.Database.Unavailable", CONNECTION_LOST)
    detail = describe_unreachable(error)
    # The driver's own words stay in the debug log (libpq never puts the password in them).
    log.debug("database.unreachable", cause=detail, driver_error=str(error.orig))
    return Unavailable("Errors.Database.Unavailable", detail)


def _create_engine(url: URL, is_sqlite: bool, pool: PoolSettings) -> AsyncEngine:
    if not is_sqlite:
        # No pre-ping: it costs a round trip per checkout; a dropped connection invalidates the pool and
        # surfaces once as Unavailable instead.
        return create_async_engine(
            url,
            pool_size=pool.size,
            max_overflow=pool.max_overflow,
            pool_recycle=1800,
            connect_args=connect_arguments(url, pool),
        )
    engine = create_async_engine(url, connect_args={"timeout": 30})
    sa.event.listen(engine.sync_engine, "connect", _configure_sqlite)
    sa.event.listen(engine.sync_engine, "begin", _begin_sqlite)
    return engine


def connect_arguments(url: URL, pool: PoolSettings) -> dict[str, Any]:
    """psycopg's connect arguments: a connect timeout, unless the URL sets its own ``connect_timeout``.

    Without one an unreachable host hangs a start (or a request) for the kernel's TCP timeout, minutes.
    """
    if "connect_timeout" in url.query:
        return {}
    return {"connect_timeout": max(1, round(pool.connect_timeout_seconds))}


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide when transactions begin (SQLAlchemy's pysqlite recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Before WAL, which writes the header of a new file: a new database frees pages incrementally
    # from the start; an existing one is switched once by storage/vacuum.py (docs/retention.md).
    cursor.execute("PRAGMA auto_vacuum=INCREMENTAL")
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
