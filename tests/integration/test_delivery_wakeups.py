"""Wake-ups: a commit that enqueues deliveries wakes this process's workers, and other processes via NOTIFY."""

from __future__ import annotations

import asyncio

import pytest

from callout.domain.deliveries import NewDelivery
from callout.services.context import ServiceContext
from callout.storage import deliveries as store
from callout.storage.database import Database
from callout.storage.notify import listen_for_deliveries


async def _enqueue_one(database: Database, context: ServiceContext) -> None:
    delivery = NewDelivery("d-1", "i-1", "t-1", "event", b"{}")
    async with database.transaction() as conn:
        await store.enqueue(conn, [delivery], context.clock.now())


async def _enqueue_then_fail(context: ServiceContext) -> None:
    async with context.database.transaction() as conn:
        await store.enqueue(conn, [NewDelivery("d-2", "i-1", "t-1", "event", b"{}")], context.clock.now())
        raise RuntimeError("roll back")


class TestWakeups:
    async def test_commit_sets_the_in_process_signal(self, context: ServiceContext) -> None:
        """Enqueueing sets the database's signal, but only once the transaction commits."""
        signal = context.database.deliveries_enqueued
        delivery = NewDelivery("d-1", "i-1", "t-1", "event", b"{}")
        async with context.database.transaction() as conn:
            await store.enqueue(conn, [delivery], context.clock.now())
            before_commit = signal.is_set()
        assert (before_commit, signal.is_set()) == (False, True)

    async def test_rolled_back_enqueue_does_not_wake(self, context: ServiceContext) -> None:
        """A transaction that rolls back leaves the signal unset."""
        with pytest.raises(RuntimeError):
            await _enqueue_then_fail(context)
        assert not context.database.deliveries_enqueued.is_set()

    # LISTEN/NOTIFY is PostgreSQL's; SQLite allows one process.
    @pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
    async def test_notify_wakes_another_process(self, context: ServiceContext, database_url: str) -> None:
        """On PostgreSQL a second Database (another process's) listening is woken by the commit."""
        other = Database(database_url)
        stop = asyncio.Event()
        listener = asyncio.create_task(listen_for_deliveries(other, stop))
        try:
            await asyncio.sleep(0.5)  # let the listener connect and LISTEN
            await _enqueue_one(context.database, context)
            await asyncio.wait_for(other.deliveries_enqueued.wait(), timeout=5)
        finally:
            stop.set()
            await listener
            await other.close()
