"""The event log: append events with a per-aggregate sequence, read them back in order.

Sequences are gap-free per aggregate. On PostgreSQL they are drawn from ``aggregate_sequences`` by
one atomic upsert whose row locks serialise the writers of one aggregate until commit; on SQLite the
database-wide write lock already does, so the last sequence is read from the events themselves
(docs/concurrency.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.clock import from_micros, to_micros
from callout.domain.events import Event, NewEvent
from callout.storage.schema import aggregate_sequences, events

AggregateKey = tuple[str, str, str]


async def append_event(conn: AsyncConnection, event: NewEvent, created: datetime) -> Event:
    """Append one event inside the caller's transaction and return it as stored."""
    return (await append_events(conn, [event], created))[0]


async def append_events(conn: AsyncConnection, new: list[NewEvent], created: datetime) -> list[Event]:
    """Append events in order, numbering each aggregate's on from its last sequence; one INSERT for all."""
    if not new:
        return []
    last = await _reserve_sequences(conn, new)
    rows = []
    for event in new:
        key = (event.instance_id, event.aggregate_type, event.aggregate_id)
        last[key] = last.get(key, 0) + 1
        rows.append(_row(event, last[key], created))
    ids = await _insert(conn, rows)
    return [_from_values(event_id, row) for event_id, row in zip(ids, rows, strict=True)]


async def _insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> list[int]:
    if len(rows) == 1:
        return [(await conn.execute(events.insert().values(rows[0]).returning(events.c.id))).scalar_one()]
    # Ids are drawn first and the rows inserted with them by one plain executemany. With RETURNING
    # instead, SQLAlchemy inserts SQLite rows one statement at a time (to return ids in order: ~12x
    # slower), and a multi-row INSERT ... RETURNING is a new, long text per batch that psycopg parses.
    if conn.dialect.name == "postgresql":
        ids = await _next_event_ids(conn, len(rows))
    else:
        ids = await _next_sqlite_ids(conn, len(rows))
    await conn.execute(events.insert(), [{**row, "id": event_id} for event_id, row in zip(ids, rows, strict=True)])
    return ids


async def _next_sqlite_ids(conn: AsyncConnection, count: int) -> list[int]:
    # What SQLite itself would assign (the largest rowid plus one). Safe: a SQLite write transaction
    # holds the database file's write lock from its start (BEGIN IMMEDIATE), so no other writer, in
    # this process or another, can take these ids before the commit.
    top = (await conn.execute(sa.select(sa.func.max(events.c.id)))).scalar()
    return list(range((top or 0) + 1, (top or 0) + 1 + count))


async def _next_event_ids(conn: AsyncConnection, count: int) -> list[int]:
    sequence = sa.func.pg_get_serial_sequence(events.name, events.c.id.name)
    query = sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, count))
    return sorted(int(value) for value in (await conn.execute(query)).scalars())


async def _reserve_sequences(conn: AsyncConnection, new: list[NewEvent]) -> dict[AggregateKey, int]:
    """Each aggregate's last sequence before these events; on PostgreSQL the new ones are reserved."""
    if conn.dialect.name == "postgresql":
        return await _reserve_postgres_sequences(conn, new)
    return await _last_sequences(conn, new)


# Counts added in key order: two pushes lock the counters they share in the same order and cannot
# deadlock each other. RETURNING gives the new last sequence; the batch takes the numbers below it.
_PG_RESERVE = sa.text(
    "INSERT INTO aggregate_sequences AS s (instance_id, aggregate_type, aggregate_id, last_sequence) "
    "SELECT * FROM unnest(CAST(:instance_ids AS varchar[]), CAST(:types AS varchar[]), "
    "CAST(:ids AS varchar[]), CAST(:counts AS bigint[])) ORDER BY 1, 2, 3 "
    "ON CONFLICT (instance_id, aggregate_type, aggregate_id) "
    "DO UPDATE SET last_sequence = s.last_sequence + EXCLUDED.last_sequence "
    "RETURNING s.instance_id, s.aggregate_type, s.aggregate_id, s.last_sequence"
)


async def _reserve_postgres_sequences(conn: AsyncConnection, new: list[NewEvent]) -> dict[AggregateKey, int]:
    counts: dict[AggregateKey, int] = {}
    for event in new:
        key = (event.instance_id, event.aggregate_type, event.aggregate_id)
        counts[key] = counts.get(key, 0) + 1
    keys = list(counts)
    parameters = {
        "instance_ids": [key[0] for key in keys],
        "types": [key[1] for key in keys],
        "ids": [key[2] for key in keys],
        "counts": [counts[key] for key in keys],
    }
    rows = await conn.execute(_PG_RESERVE, parameters)
    return {(row[0], row[1], row[2]): int(row[3]) - counts[(row[0], row[1], row[2])] for row in rows}


async def _last_sequences(conn: AsyncConnection, new: list[NewEvent]) -> dict[AggregateKey, int]:
    # SQLite only: its write lock, taken at BEGIN IMMEDIATE, keeps every other writer out until commit.
    # The counters hold the last sequence of aggregates whose events retention pruned (docs/retention.md).
    keys = {(event.instance_id, event.aggregate_type, event.aggregate_id) for event in new}
    columns = (events.c.instance_id, events.c.aggregate_type, events.c.aggregate_id)
    stored = sa.select(*columns, sa.func.max(events.c.sequence)).where(sa.tuple_(*columns).in_(keys)).group_by(*columns)
    counters = aggregate_sequences.c
    pruned = sa.select(counters.instance_id, counters.aggregate_type, counters.aggregate_id, counters.last_sequence)
    pruned = pruned.where(sa.tuple_(counters.instance_id, counters.aggregate_type, counters.aggregate_id).in_(keys))
    last: dict[AggregateKey, int] = {}
    for row in await conn.execute(sa.union_all(stored, pruned)):
        key = (row[0], row[1], row[2])
        last[key] = max(last.get(key, 0), int(row[3]))
    return last


def _row(event: NewEvent, sequence: int, created: datetime) -> dict[str, Any]:
    return {
        "instance_id": event.instance_id,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "sequence": sequence,
        "event_type": event.event_type,
        "creator": event.creator,
        "resource_owner": event.resource_owner,
        "created_at": to_micros(created),
        "payload": event.payload,
        "idempotency_key": event.idempotency_key,
    }


async def list_events(conn: AsyncConnection, instance_id: str, aggregate_id: str | None = None) -> list[Event]:
    """Return the instance's events (optionally of one aggregate) in the order they were written."""
    query = sa.select(events).where(events.c.instance_id == instance_id)
    if aggregate_id is not None:
        query = query.where(events.c.aggregate_id == aggregate_id)
    rows = await conn.execute(query.order_by(events.c.id))
    return [_from_values(row.id, row._asdict()) for row in rows]


def _from_values(event_id: int, values: dict[str, Any]) -> Event:
    return Event(
        id=event_id,
        instance_id=values["instance_id"],
        aggregate_type=values["aggregate_type"],
        aggregate_id=values["aggregate_id"],
        sequence=values["sequence"],
        event_type=values["event_type"],
        creator=values["creator"],
        resource_owner=values["resource_owner"],
        created_at=from_micros(values["created_at"]),
        payload=values["payload"],
    )


async def find_events_by_keys(conn: AsyncConnection, instance_id: str, keys: list[str]) -> dict[str, Event]:
    """The instance's events pushed with these idempotency keys, by key."""
    if not keys:
        return {}
    query = sa.select(events).where(events.c.instance_id == instance_id, events.c.idempotency_key.in_(set(keys)))
    return {row.idempotency_key: _from_values(row.id, row._asdict()) for row in await conn.execute(query)}
