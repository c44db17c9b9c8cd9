"""The event log on SQLite and PostgreSQL: ids and sequences handed out by one append of many events."""

from __future__ import annotations

from datetime import UTC, datetime

from callout.domain.events import NewEvent
from callout.services.context import ServiceContext
from callout.storage.events import append_event, append_events, list_events

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _new(aggregate_id: str, n: int) -> NewEvent:
    return NewEvent("instance-1", "order", aggregate_id, "order.paid", "user-1", "org-1", {"n": n})


class TestAppendEvents:
    async def test_returned_ids_are_the_stored_ones_in_order(self, context: ServiceContext) -> None:
        """A batch appended after a single event gets increasing ids, and reading back gives the same events."""
        async with context.database.transaction() as conn:
            first = await append_event(conn, _new("o-0", 0), NOW)
            batch = await append_events(conn, [_new(f"o-{n % 3}", n) for n in range(1, 8)], NOW)
        async with context.database.read() as conn:
            stored = await list_events(conn, "instance-1")
        assert stored == [first, *batch]

    async def test_ids_keep_rising_across_batches(self, context: ServiceContext) -> None:
        """Every id of a later batch is above every id of an earlier one, with none reused."""
        batches = []
        for start in (0, 100):
            async with context.database.transaction() as conn:
                batches.append(await append_events(conn, [_new(f"o-{n}", n) for n in range(start, start + 50)], NOW))
        ids = [event.id for batch in batches for event in batch]
        assert ids == sorted(set(ids))

    async def test_sequences_count_per_aggregate_within_a_batch(self, context: ServiceContext) -> None:
        """Events of one aggregate in one batch are numbered 1, 2, 3 in order."""
        async with context.database.transaction() as conn:
            batch = await append_events(conn, [_new("o-1", 1), _new("o-2", 2), _new("o-1", 3), _new("o-1", 4)], NOW)
        assert [(event.aggregate_id, event.sequence) for event in batch] == [
            ("o-1", 1),
            ("o-2", 1),
            ("o-1", 2),
            ("o-1", 3),
        ]
