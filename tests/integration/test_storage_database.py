"""The database handle: write transactions commit or roll back whole, connection loss is Unavailable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.errors import Unavailable
from callout.storage.database import Database
from tests.conftest import _libpq_url

PROBE = sa.table("probe", sa.column("n", sa.Integer))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A database with one table ``probe(n)``."""
    handle = Database(database_url)
    async with handle.transaction() as conn:
        await conn.execute(sa.text("CREATE TABLE probe (n INTEGER)"))
    yield handle
    await handle.close()


async def _count(database: Database) -> int:
    async with database.read() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(PROBE))).scalar_one())


class TestTransactions:
    async def test_transaction_commits_on_success(self, database: Database) -> None:
        """Rows written in a transaction that ends normally are stored."""
        async with database.transaction() as conn:
            await conn.execute(PROBE.insert(), [{"n": 1}, {"n": 2}])
        assert await _count(database) == 2

    async def test_transaction_rolls_back_on_error(self, database: Database) -> None:
        """An exception inside the transaction leaves nothing written."""
        with pytest.raises(RuntimeError):
            await _insert_then(database, _fail)
        assert await _count(database) == 0

    # PostgreSQL only: an embedded SQLite connection cannot be cut from outside the process.
    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    async def test_connection_broken_before_commit_is_unavailable_with_unknown_outcome(
        self, database: Database, database_url: str
    ) -> None:
        """A connection killed before COMMIT raises Unavailable saying the change may or may not be stored."""

        async def terminate(conn: AsyncConnection) -> None:
            pid = int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())
            with psycopg.connect(_libpq_url(database_url.split("?")[0]), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])

        with pytest.raises(Unavailable, match="may or may not have been stored"):
            await _insert_then(database, terminate)
        assert await _count(database) == 0


async def _insert_then(database: Database, action: Callable[[AsyncConnection], Awaitable[None]]) -> None:
    async with database.transaction() as conn:
        await conn.execute(PROBE.insert(), [{"n": 1}])
        await action(conn)


async def _fail(_conn: AsyncConnection) -> None:
    raise RuntimeError("boom")
