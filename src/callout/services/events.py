"""Writing events, and enqueueing their deliveries in the same transaction.

Each event is matched against the instance's event executions (exact > longest group > all); one
delivery per target of the best match is enqueued with the event payload (docs/behaviour.md,
Payload shapes), serialised once. If the transaction rolls back, neither the event nor its
deliveries exist.

See docs/behaviour.md, Events and async delivery.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callout import tracing
from callout.domain.auth import Principal
from callout.domain.deliveries import NewDelivery
from callout.domain.events import Event, NewEvent
from callout.domain.executions import event_lookup_id
from callout.domain.ids import new_id
from callout.domain.trace_context import TraceContext
from callout.engine import payloads
from callout.engine.router import candidate_ids
from callout.storage import deliveries as delivery_store
from callout.storage import events as event_store
from callout.storage import executions as execution_store
from callout.storage.database import Connection

EVENT_VERSION = "v1"


async def record_event(conn: Connection, event: NewEvent, now: datetime) -> Event:
    """Append the event and enqueue a delivery for every target of its best-matching execution."""
    return (await record_events(conn, [event], now))[0]


async def record_events(conn: Connection, new: list[NewEvent], now: datetime) -> list[Event]:
    """Append events of one instance and enqueue their deliveries: a handful of statements for any count."""
    stored = await event_store.append_events(conn, new, now)
    routes = await execution_store.all_routes(conn, stored[0].instance_id, kind="event") if stored else {}
    trace = tracing.current()  # the deliveries continue the trace of the call that made the events
    deliveries = [delivery for event in stored for delivery in _deliveries_for(event, routes, trace)]
    await delivery_store.enqueue(conn, deliveries, now)
    return stored


def _deliveries_for(event: Event, routes: dict[str, list[str]], trace: TraceContext | None) -> list[NewDelivery]:
    lookup = event_lookup_id(event.event_type)
    matched = next((candidate for candidate in candidate_ids(lookup) if routes.get(candidate)), None)
    if matched is None:
        return []
    body = event_body(event)
    return [
        NewDelivery(new_id(), event.instance_id, target_id, matched, body, event.id, trace)
        for target_id in routes[matched]
    ]


async def record_change(
    conn: Connection,
    principal: Principal,
    aggregate: tuple[str, str],
    event_type: str,
    payload: dict[str, Any],
    now: datetime,
) -> Event:
    """Record a change the caller made to an aggregate ``(type, id)`` of their instance."""
    aggregate_type, aggregate_id = aggregate
    event = NewEvent(
        instance_id=principal.instance_id,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        event_type=event_type,
        creator=principal.user_id,
        resource_owner=principal.instance_id,
        payload=payload,
    )
    return await record_event(conn, event, now)


def event_body(event: Event) -> bytes:
    """The event payload targets receive (docs/behaviour.md, Payload shapes)."""
    return payloads.event_payload(
        event.aggregate_id,
        event.aggregate_type,
        event.resource_owner,
        event.instance_id,
        EVENT_VERSION,
        event.sequence,
        event.event_type,
        event.created_at,
        event.creator,
        event.payload,
    )
