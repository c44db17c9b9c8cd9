"""Write transactions re-run on conflicts the database reports, and answer what really happened.

The conflicts are real: a deadlock and a serialization failure provoked between two transactions
on PostgreSQL, and server-side errors raised with a chosen SQLSTATE (``RAISE ... USING ERRCODE``),
so the driver and SQLAlchemy see exactly what a busy server sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from callout.errors import Unavailable
from callout.services.context import ServiceContext
from callout.storage.database import WRITE_ATTEMPTS, Connection, Database, signal_deliveries_after_commit
from callout.storage.failures import Failure, classify
from callout.storage.schema import instances
from tests.conftest import MakePrincipal

Body = Callable[[Connection], Awaitable[None]]


# Only the PostgreSQL variant of the database_url fixture: SQLite serialises writers, so these
# conflicts cannot happen there.
POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _raising(state: str, constraint: str | None = None) -> tuple[Body, list[int]]:
    """A transaction body the server fails with SQLSTATE ``state``; and the list its attempts are counted in."""
    attempts: list[int] = []
    using = f"ERRCODE = '{state}'" + (f", CONSTRAINT = '{constraint}'" if constraint else "")

    async def body(conn: Connection) -> None:
        attempts.append(1)
        await conn.execute(sa.text(f"DO $$ BEGIN RAISE EXCEPTION 'provoked' USING {using}; END $$"))

    return body, attempts


async def _rename(conn: Connection, instance_id: str, name: str) -> None:
    await conn.execute(instances.update().where(instances.c.id == instance_id).values(name=name))


class TestWriteRetries:
    @POSTGRES_ONLY
    async def test_a_deadlock_is_resolved_by_running_the_victim_again(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """Two transactions locking two rows in opposite order both commit; the victim ran twice."""
        first, second = [(await make_principal())[0].instance_id for _ in range(2)]
        holding = [asyncio.Event(), asyncio.Event()]
        attempts = [0, 0]

        def crosswise(me: int, mine: str, theirs: str) -> Body:
            async def body(conn: Connection) -> None:
                attempts[me] += 1
                await _rename(conn, mine, f"by-{me}")
                holding[me].set()
                await holding[1 - me].wait()  # both now hold one row and want the other's
                await _rename(conn, theirs, f"by-{me}")

            return body

        await asyncio.gather(
            context.database.write(crosswise(0, first, second)), context.database.write(crosswise(1, second, first))
        )
        assert sorted(attempts) == [1, 2]

    @POSTGRES_ONLY
    async def test_a_serialization_failure_is_resolved_by_running_the_transaction_again(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """A repeatable-read transaction whose row changed under it fails once (40001), then commits."""
        instance_id = (await make_principal())[0].instance_id
        snapshot_taken, changed = asyncio.Event(), asyncio.Event()
        attempts: list[int] = []

        async def stale_update(conn: Connection) -> None:
            attempts.append(1)
            await conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            await conn.execute(sa.select(instances.c.name).where(instances.c.id == instance_id))
            snapshot_taken.set()
            await changed.wait()
            await _rename(conn, instance_id, "stale")

        async def concurrent_update() -> None:
            await snapshot_taken.wait()
            await context.database.write(lambda conn: _rename(conn, instance_id, "fresh"))
            changed.set()

        await asyncio.gather(context.database.write(stale_update), concurrent_update())
        async with context.database.read() as conn:
            name = (await conn.execute(sa.select(instances.c.name).where(instances.c.id == instance_id))).scalar()
        assert (len(attempts), name) == (2, "stale")

    @POSTGRES_ONLY
    @pytest.mark.parametrize("state", ["40001", "40P01"])
    async def test_a_conflict_that_persists_answers_busy_after_the_last_attempt(
        self, context: ServiceContext, state: str
    ) -> None:
        """A conflict on every attempt runs the body WRITE_ATTEMPTS times, then answers Errors.Database.Busy."""
        body, attempts = _raising(state)
        with pytest.raises(Unavailable) as raised:
            await context.database.write(body)
        assert (len(attempts), raised.value.message_id, raised.value.kind.http_status) == (
            WRITE_ATTEMPTS,
            "Errors.Database.Busy",
            503,
        )
        assert "conflicted" in raised.value.detail

    @POSTGRES_ONLY
    async def test_a_lost_race_on_a_race_constraint_runs_again(self, context: ServiceContext) -> None:
        """A unique violation of the idempotency index counts as a conflict and is retried."""
        body, attempts = _raising("23505", "ux_events_idempotency")
        with pytest.raises(Unavailable):
            await context.database.write(body)
        assert len(attempts) == WRITE_ATTEMPTS

    @POSTGRES_ONLY
    async def test_other_unique_violations_are_not_retried(self, context: ServiceContext) -> None:
        """A unique violation of a constraint not listed as a race surfaces once, as the driver's error."""
        body, attempts = _raising("23505", "some_other_constraint")
        with pytest.raises(sa.exc.IntegrityError):
            await context.database.write(body)
        assert len(attempts) == 1

    @POSTGRES_ONLY
    async def test_a_busy_server_is_busy_not_unreachable(self, context: ServiceContext) -> None:
        """A server out of resources (53300) answers Errors.Database.Busy at once, never 'cannot be reached'."""
        body, attempts = _raising("53300")
        with pytest.raises(Unavailable) as raised:
            await context.database.write(body)
        assert (len(attempts), raised.value.message_id) == (1, "Errors.Database.Busy")
        assert "cannot be reached" not in raised.value.detail

    @POSTGRES_ONLY
    async def test_hooks_run_once_for_the_attempt_that_commits(
        self, context: ServiceContext, make_principal: MakePrincipal
    ) -> None:
        """After-commit hooks of rolled-back attempts never run: a retried write signals its workers once."""
        first, second = [(await make_principal())[0].instance_id for _ in range(2)]
        signals: list[int] = []
        context.database.deliveries_enqueued = _CountingEvent(signals)
        holding = [asyncio.Event(), asyncio.Event()]

        def crosswise(me: int, mine: str, theirs: str) -> Body:
            async def body(conn: Connection) -> None:
                signal_deliveries_after_commit(conn)
                await _rename(conn, mine, "x")
                holding[me].set()
                await holding[1 - me].wait()
                await _rename(conn, theirs, "y")

            return body

        await asyncio.gather(
            context.database.write(crosswise(0, first, second)), context.database.write(crosswise(1, second, first))
        )
        assert len(signals) == 2  # two commits, though three attempts ran


class _CountingEvent(asyncio.Event):
    """An asyncio.Event that records every set()."""

    def __init__(self, record: list[int]) -> None:
        super().__init__()
        self._record = record

    def set(self) -> None:
        self._record.append(1)
        super().set()


class TestFailureClassification:
    def test_a_locked_sqlite_database_is_busy(self, tmp_path: Path) -> None:
        """SQLite's 'database is locked' (a second writer without waiting) is classified busy."""
        path = tmp_path / "locked.db"
        holder = sa.create_engine(f"sqlite:///{path}")
        waiter = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
        with holder.connect() as held:
            held.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            held.commit()
            held.exec_driver_sql("BEGIN IMMEDIATE")
            with pytest.raises(sa.exc.OperationalError) as raised, waiter.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            held.rollback()
        assert classify(raised.value) is Failure.BUSY

    async def test_a_refused_connection_is_unreachable(self) -> None:
        """A PostgreSQL port nobody listens on is unreachable."""
        database = Database("postgresql+psycopg://postgres@127.0.0.1:1/x")
        try:
            with pytest.raises(Unavailable) as raised:
                await database.write(lambda conn: _rename(conn, "x", "y"))
        finally:
            await database.close()
        assert (raised.value.message_id, raised.value.detail) == (
            "Errors.Database.Unavailable",
            "the database cannot be reached: connection refused",
        )
