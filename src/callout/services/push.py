"""PushEvents: host applications write events of their declared types; deliveries follow.

All or nothing: every event is validated before any is written, and all are written in one
transaction. A repeat with the same idempotency key returns the event stored the first time.

See docs/behaviour.md, Events and async delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from callout.domain.auth import Principal
from callout.domain.catalog import CALLOUT_EVENT_TYPES
from callout.domain.events import Event, NewEvent
from callout.errors import InvalidArgument
from callout.services.context import ServiceContext
from callout.services.events import record_events
from callout.services.executions import instance_catalog
from callout.storage import events as event_store
from callout.storage.database import Connection

MAX_EVENTS_PER_PUSH = 1000


@dataclass(frozen=True)
class PushedEvent:
    """One event as a host application sends it."""

    aggregate_type: str
    aggregate_id: str
    event_type: str
    payload: dict[str, Any]
    creator: str = ""
    idempotency_key: str | None = None


async def push_events(context: ServiceContext, principal: Principal, pushed: list[PushedEvent]) -> list[Event]:
    """Validate, then store every event (once per idempotency key) and enqueue its deliveries."""
    if not 1 <= len(pushed) <= MAX_EVENTS_PER_PUSH:
        raise InvalidArgument("Errors.Event.Invalid", f"push 1 to {MAX_EVENTS_PER_PUSH} events at a time")
    now = context.clock.now()

    async def push(conn: Connection) -> list[Event]:
        declared = (await instance_catalog(context, conn, principal.instance_id)).event_types
        for index, event in enumerate(pushed):
            _validate(event, declared, index)
        keys = [event.idempotency_key for event in pushed if event.idempotency_key]
        known = await event_store.find_events_by_keys(conn, principal.instance_id, keys)
        fresh = _first_of_each_key(pushed, known)
        written = await record_events(conn, [_new_event(principal, event) for event in fresh], now)
        return _answers(pushed, known, written)

    # Two pushes of one new key race to the unique index; the loser's whole transaction runs again
    # and then finds the winner's event (storage/failures.py, docs/concurrency.md).
    return await context.database.write(push)


def _answers(pushed: list[PushedEvent], known: dict[str, Event], written: list[Event]) -> list[Event]:
    """The stored event for each pushed one, in order: the first with its key, or the new one."""
    fresh = iter(written)
    by_key = dict(known)
    results = []
    for event in pushed:
        if event.idempotency_key and event.idempotency_key in by_key:
            results.append(by_key[event.idempotency_key])
            continue
        stored = next(fresh)
        if event.idempotency_key:
            by_key[event.idempotency_key] = stored
        results.append(stored)
    return results


def _first_of_each_key(pushed: list[PushedEvent], known: dict[str, Event]) -> list[PushedEvent]:
    # A key already stored, or repeated within this push, is written once.
    seen = set(known)
    fresh = []
    for event in pushed:
        if event.idempotency_key:
            if event.idempotency_key in seen:
                continue
            seen.add(event.idempotency_key)
        fresh.append(event)
    return fresh


def _new_event(principal: Principal, event: PushedEvent) -> NewEvent:
    return NewEvent(
        instance_id=principal.instance_id,
        aggregate_type=event.aggregate_type,
        aggregate_id=event.aggregate_id,
        event_type=event.event_type,
        creator=event.creator or principal.user_id,
        resource_owner=principal.instance_id,
        payload=event.payload,
        idempotency_key=event.idempotency_key or None,
    )


def _validate(event: PushedEvent, declared: frozenset[str], index: int) -> None:
    where = f"events[{index}]"
    # callout's own event types record callout's changes: nobody may forge them.
    if event.event_type not in declared or event.event_type in CALLOUT_EVENT_TYPES:
        raise InvalidArgument(
            "Errors.Event.UnknownType", f"{where}: event type {event.event_type[:100]!r} is not declared"
        )
    for name, value, limit in (("aggregateType", event.aggregate_type, 100), ("aggregateId", event.aggregate_id, 1000)):
        if not value or len(value) > limit:
            raise InvalidArgument("Errors.Event.Invalid", f"{where}.{name} must be 1 to {limit} characters")
    if event.idempotency_key is not None and len(event.idempotency_key) > 200:
        raise InvalidArgument("Errors.Event.Invalid", f"{where}.idempotencyKey is longer than 200 characters")
    if len(event.creator) > 64:
        raise InvalidArgument("Errors.Event.Invalid", f"{where}.creator is longer than 64 characters")
