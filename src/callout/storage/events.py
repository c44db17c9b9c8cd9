"""The event log: append events with a per-aggregate sequence, read them back in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.clock import from_micros, to_micros
from callout.domain.events import Event, NewEvent
from callout.storage.schema import events


async def append_event(conn: AsyncConnection, event: NewEvent, created: datetime) -> Event:
    """Append one event inside the caller's transaction and return it as stored."""
    return (await append_events(conn, [event], created))[0]


async def append_events(conn: AsyncConnection, new: list[NewEvent], created: datetime) -> list[Event]:
    """Append events in order, numbering each aggregate's on from its last sequence; one INSERT for all."""
    if not new:
        return []
    last = await _last_sequences(conn, new)
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


async def _last_sequences(conn: AsyncConnection, new: list[NewEvent]) -> dict[tuple[str, str, str], int]:
    keys = {(event.instance_id, event.aggregate_type, event.aggregate_id) for event in new}
    columns = (events.c.instance_id, events.c.aggregate_type, events.c.aggregate_id)
    query = sa.select(*columns, sa.func.max(events.c.sequence)).where(_among(conn, columns, keys)).group_by(*columns)
    found = {(row[0], row[1], row[2]): int(row[3]) for row in await conn.execute(query)}
    return {key: sequence for key, sequence in found.items() if key in keys}


def _among(
    conn: AsyncConnection, columns: tuple[sa.Column[Any], ...], keys: set[tuple[str, str, str]]
) -> sa.ColumnElement[bool]:
    """Rows whose key is one of ``keys``; on PostgreSQL a superset, filtered by the caller.

    A tuple IN of a thousand keys expands into a statement text psycopg would parse every time;
    three array parameters (``= ANY``) keep the text short and the same.
    """
    if conn.dialect.name != "postgresql":
        return sa.tuple_(*columns).in_(keys)
    arrays = [sorted({key[index] for key in keys}) for index in range(len(columns))]
    return sa.and_(
        *(
            column == sa.any_(sa.literal(values, postgresql.ARRAY(sa.String)))
            for column, values in zip(columns, arrays, strict=True)
        )
    )


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
