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
    same_aggregate = (
        events.c.instance_id == event.instance_id,
        events.c.aggregate_type == event.aggregate_type,
        events.c.aggregate_id == event.aggregate_id,
    )
    last = await conn.execute(sa.select(sa.func.max(events.c.sequence)).where(*same_aggregate))
    sequence = (last.scalar_one() or 0) + 1
    values = {
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
    result = await conn.execute(events.insert().values(values).returning(events.c.id))
    return _from_values(result.scalar_one(), values)


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


async def find_event_by_key(conn: AsyncConnection, instance_id: str, key: str) -> Event | None:
    """The instance's event pushed with this idempotency key, or None."""
    query = sa.select(events).where(events.c.instance_id == instance_id, events.c.idempotency_key == key)
    row = (await conn.execute(query)).first()
    return None if row is None else _from_values(row.id, row._asdict())
