"""Retention on SQLite and PostgreSQL: what pruning deletes, what it always keeps, and how it counts.

Rows are written through the storage functions at chosen times and pruned against a fixed clock, so
"older than the period" is exact. Rules: docs/retention.md.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from callout.domain.deliveries import Attempt, DeliveryState, NewDelivery
from callout.domain.events import Event, NewEvent
from callout.services import retention
from callout.services.context import ServiceContext
from callout.storage import deliveries as delivery_store
from callout.storage import vacuum
from callout.storage.database import Database
from callout.storage.events import append_events
from callout.storage.migrations import upgrade_to_head
from callout.storage.schema import deliveries, delivery_attempts, events

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=30)
OLD = NOW - RETENTION - timedelta(hours=1)
RECENT = NOW - RETENTION + timedelta(hours=1)
_ids = itertools.count()


@dataclass(frozen=True)
class FixedClock:
    """A clock that always says the same time."""

    moment: datetime

    def now(self) -> datetime:
        """The fixed moment."""
        return self.moment


@dataclass(frozen=True)
class Rows:
    """How many rows each table holds."""

    deliveries: int
    attempts: int
    events: int


async def count_rows(database: Database) -> Rows:
    """Count the rows of the three tables retention prunes."""
    async with database.read() as conn:
        counts = [
            (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            for table in (deliveries, delivery_attempts, events)
        ]
    return Rows(*counts)


MakeEvents = Callable[..., Awaitable[list[Event]]]
MakeDeliveries = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def at_now(context: ServiceContext) -> ServiceContext:
    """The context with its clock stopped at NOW."""
    return replace(context, clock=FixedClock(NOW))


@pytest.fixture
def make_events(context: ServiceContext) -> MakeEvents:
    """Factory: ``count`` events of one aggregate written at ``when``."""

    async def make(when: datetime, count: int = 1, aggregate_id: str = "o-1") -> list[Event]:
        new = [NewEvent("i-1", "order", aggregate_id, "order.paid", "u", "i-1", {"n": n}) for n in range(count)]
        async with context.database.transaction() as conn:
            return await append_events(conn, new, when)

    return make


@pytest.fixture
def make_deliveries(context: ServiceContext, make_events: MakeEvents) -> MakeDeliveries:
    """Factory: ``count`` deliveries of fresh events, enqueued at ``when`` and left in ``state``.

    ``retrying`` is pending after one failed attempt; ``in_flight`` is claimed and never recorded.
    """

    async def make(when: datetime, state: str, count: int = 1, attempts: int = 1) -> list[str]:
        stored = await make_events(when, count, aggregate_id=f"o-{next(_ids)}")
        new = [NewDelivery(f"d-{next(_ids)}", "i-1", "t-1", "event/x", b"{}", event.id) for event in stored]
        async with context.database.transaction() as conn:
            await delivery_store.enqueue(conn, new, when)
        if state != "pending":
            await _claim_and_record(context.database, when, state, count, attempts)
        return [item.id for item in new]

    return make


async def _claim_and_record(database: Database, when: datetime, state: str, count: int, attempts: int) -> None:
    async with database.transaction() as conn:
        claimed = await delivery_store.claim_due(conn, when, timedelta(seconds=30), count)
        if state == "in_flight":
            return
        final = {"succeeded": DeliveryState.SUCCEEDED, "failed": DeliveryState.FAILED}.get(state)
        outcomes = [
            delivery_store.Outcome(
                delivery,
                Attempt(delivery.id, number, when, timedelta(milliseconds=5), 500, "x", None),
                final or DeliveryState.PENDING,
                None if final else when + timedelta(days=1),
            )
            for delivery in claimed
            for number in range(1, attempts + 1)
        ]
        await delivery_store.record_outcomes(conn, outcomes)


async def _delivery_ids(database: Database) -> set[str]:
    async with database.read() as conn:
        return set((await conn.execute(sa.select(deliveries.c.id))).scalars())


async def _event_ids(database: Database) -> set[int]:
    async with database.read() as conn:
        return set((await conn.execute(sa.select(events.c.id))).scalars())


class TestWhatIsPruned:
    async def test_old_succeeded_delivery_goes_with_its_attempts(
        self, at_now: ServiceContext, make_deliveries: MakeDeliveries
    ) -> None:
        """A delivery that succeeded before the period is deleted together with both of its attempts."""
        await make_deliveries(OLD, "succeeded", attempts=2)
        await retention.prune(at_now, RETENTION)
        assert await count_rows(at_now.database) == Rows(0, 0, 1)  # the event is the newest: it stays

    async def test_old_failed_delivery_goes(self, at_now: ServiceContext, make_deliveries: MakeDeliveries) -> None:
        """A delivery that failed before the period is deleted."""
        [failed] = await make_deliveries(OLD, "failed")
        await retention.prune(at_now, RETENTION)
        assert failed not in await _delivery_ids(at_now.database)

    async def test_recently_finished_delivery_stays(
        self, at_now: ServiceContext, make_deliveries: MakeDeliveries
    ) -> None:
        """A delivery that finished within the period is kept with its attempt and event."""
        await make_deliveries(RECENT, "succeeded")
        await retention.prune(at_now, RETENTION)
        assert await count_rows(at_now.database) == Rows(1, 1, 1)

    async def test_old_event_nobody_needs_goes(self, at_now: ServiceContext, make_events: MakeEvents) -> None:
        """An event older than the period without deliveries is deleted (a newer one stays)."""
        [old] = await make_events(OLD)
        await make_events(RECENT)
        await retention.prune(at_now, RETENTION)
        assert old.id not in await _event_ids(at_now.database)

    async def test_counts_every_kind(self, at_now: ServiceContext, make_deliveries: MakeDeliveries) -> None:
        """The counts say how many deliveries, attempts and events one prune deleted."""
        await make_deliveries(OLD, "failed", count=3, attempts=2)
        await make_deliveries(RECENT, "succeeded")  # its event is the newest, which is always kept
        counts = await retention.prune(at_now, RETENTION)
        assert counts.by_kind() == {"deliveries": 3, "attempts": 6, "events": 3}

    async def test_older_than_zero_prunes_every_finished_delivery(
        self, at_now: ServiceContext, make_deliveries: MakeDeliveries
    ) -> None:
        """``older_than`` 0 deletes deliveries that finished a moment ago."""
        await make_deliveries(NOW - timedelta(seconds=1), "succeeded")
        await retention.prune(at_now, timedelta(0))
        assert (await count_rows(at_now.database)).deliveries == 0


class TestWhatIsKept:
    @pytest.mark.parametrize("state", ["pending", "retrying", "in_flight"])
    async def test_unfinished_delivery_and_its_event_stay_however_old(
        self, at_now: ServiceContext, make_deliveries: MakeDeliveries, make_events: MakeEvents, state: str
    ) -> None:
        """A pending, retrying or leased delivery from long ago is kept, and so is the event it carries."""
        await make_deliveries(NOW - timedelta(days=400), state)
        await make_events(RECENT)
        await retention.prune(at_now, RETENTION)
        assert (await count_rows(at_now.database)).deliveries == 1
        assert len(await _event_ids(at_now.database)) == 2

    async def test_event_of_a_kept_finished_delivery_stays(
        self, at_now: ServiceContext, context: ServiceContext, make_deliveries: MakeDeliveries
    ) -> None:
        """An old event whose delivery was redelivered and finished recently is kept with it."""
        [delivery_id] = await make_deliveries(OLD, "failed")
        async with context.database.transaction() as conn:
            await delivery_store.redeliver(conn, "i-1", [delivery_id], RECENT)
        await _claim_and_record(context.database, RECENT, "succeeded", 1, 1)
        await retention.prune(at_now, RETENTION)
        assert await count_rows(at_now.database) == Rows(1, 2, 1)

    async def test_newest_event_stays(self, at_now: ServiceContext, make_events: MakeEvents) -> None:
        """The newest event is kept even when old, so SQLite never hands out its id again."""
        await make_events(OLD, count=3)
        await retention.prune(at_now, RETENTION)
        assert len(await _event_ids(at_now.database)) == 1

    async def test_sequences_go_on_after_an_aggregate_was_pruned(
        self, at_now: ServiceContext, make_events: MakeEvents
    ) -> None:
        """The next event of an aggregate whose events were pruned is numbered after them, not from 1."""
        await make_events(OLD, count=3, aggregate_id="o-pruned")
        await make_events(OLD, aggregate_id="o-other")
        await retention.prune(at_now, RETENTION)
        [after] = await make_events(NOW, aggregate_id="o-pruned")
        assert after.sequence == 4


class TestBatches:
    async def test_a_backlog_larger_than_a_batch_is_pruned_whole(
        self, at_now: ServiceContext, make_deliveries: MakeDeliveries, make_events: MakeEvents
    ) -> None:
        """More deliveries than one batch holds are all deleted, reported batch by batch."""
        await make_deliveries(OLD, "succeeded", count=retention.BATCH_ROWS + 20)
        await make_events(RECENT)
        reported: list[int] = []
        await retention.prune(at_now, RETENTION, on_batch=lambda counts: reported.append(counts.deliveries))
        assert (reported[0], reported[-1], await count_rows(at_now.database)) == (
            retention.BATCH_ROWS,
            retention.BATCH_ROWS + 20,
            Rows(0, 0, 1),
        )

    async def test_concurrent_pruners_delete_each_row_once(
        self, at_now: ServiceContext, database_url: str, make_deliveries: MakeDeliveries, make_events: MakeEvents
    ) -> None:
        """Two pruners on their own connections at once: no error, and together they count every row once."""
        await make_deliveries(OLD, "succeeded", count=1200)
        await make_events(RECENT)
        second = replace(at_now, database=Database(database_url))
        try:
            both = await asyncio.gather(retention.prune(at_now, RETENTION), retention.prune(second, RETENTION))
        finally:
            await second.database.close()
        assert (sum(c.deliveries for c in both), sum(c.attempts for c in both), sum(c.events for c in both)) == (
            1200,
            1200,
            1200,
        )


class TestSteadyState:
    async def test_rows_and_file_size_stay_flat_over_cycles(
        self, context: ServiceContext, make_deliveries: MakeDeliveries
    ) -> None:
        """Push, deliver and prune an hour's worth per cycle, keeping 2 hours: the tables and file stop growing."""
        sizes, rows = [], []
        for hour in range(12):
            moment = NOW + timedelta(hours=hour)
            await make_deliveries(moment, "succeeded", count=200)
            await retention.prune(replace(context, clock=FixedClock(moment)), timedelta(hours=2))
            rows.append(await count_rows(context.database))
            sizes.append(await _file_size(context.database))
        assert rows[3:] == [Rows(600, 600, 600)] * 9  # this hour, the two before, and nothing older
        assert max(sizes[4:]) <= sizes[3] * 1.1


async def _file_size(database: Database) -> int:
    """Bytes of the SQLite file once its WAL is written back (0 on PostgreSQL, whose space autovacuum reuses)."""
    if not database.is_sqlite or database.url.database is None:
        return 0
    async with database.read() as conn:
        await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return _size(database.url.database)


def _size(path: str) -> int:
    return os.path.getsize(path)


# Only the SQLite variant of the database_url fixture: the behaviour does not exist on PostgreSQL.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class TestVacuum:
    @SQLITE_ONLY
    async def test_new_sqlite_database_frees_pages_incrementally(self, context: ServiceContext) -> None:
        """A SQLite database created by the migrations is in incremental auto-vacuum mode."""
        assert await vacuum.auto_vacuum_mode(context.database) == vacuum.INCREMENTAL

    @SQLITE_ONLY  # PostgreSQL's autovacuum makes the space reusable; its files keep their size
    async def test_pruning_a_backlog_gives_the_space_back(
        self, at_now: ServiceContext, make_deliveries: MakeDeliveries, make_events: MakeEvents
    ) -> None:
        """After a large prune the SQLite file is smaller and holds few free pages."""
        for _ in range(5):
            await make_deliveries(OLD, "succeeded", count=400)
        await make_events(RECENT)
        before = await _file_size(at_now.database)
        await retention.prune(at_now, RETENTION)
        assert (await _file_size(at_now.database) < before / 2, await vacuum.free_pages(at_now.database) < 64) == (
            True,
            True,
        )


async def test_existing_sqlite_database_is_switched_to_incremental(tmp_path: Path) -> None:
    """A SQLite database made without auto-vacuum is switched to incremental when the migrations run."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE leftover (x)")
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_to_head(database)
        assert await vacuum.auto_vacuum_mode(database) == vacuum.INCREMENTAL
    finally:
        await database.close()
