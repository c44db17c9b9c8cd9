"""The event log: append events with a per-aggregate sequence, read them back in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
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
    statement = events.insert().returning(events.c.id, sort_by_parameter_order=True)
    ids = (
        list((await conn.execute(statement, rows)).scalars())
        if len(rows) > 1
        else [(await conn.execute(events.insert().values(rows[0]).returning(events.c.id))).scalar_one()]
    )
    return [_from_values(event_id, row) for event_id, row in zip(ids, rows, strict=True)]


async def _last_sequences(conn: AsyncConnection, new: list[NewEvent]) -> dict[tuple[str, str, str], int]:
    keys = {(event.instance_id, event.aggregate_type, event.aggregate_id) for event in new}
    query = (
        sa.select(events.c.instance_id, events.c.aggregate_type, events.c.aggregate_id, sa.func.max(events.c.sequence))
        .where(sa.tuple_(events.c.instance_id, events.c.aggregate_type, events.c.aggregate_id).in_(keys))
        .group_by(events.c.instance_id, events.c.aggregate_type, events.c.aggregate_id)
    )
    return {(row[0], row[1], row[2]): int(row[3]) for row in await conn.execute(query)}


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
