"""Delivery log use cases: list, inspect with attempts, redeliver one or all failed.

See docs/behaviour.md, Events and async delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from callout.domain.auth import Principal
from callout.domain.deliveries import Attempt, Delivery, DeliveryQuery
from callout.domain.queries import Page
from callout.errors import NotFound
from callout.services.context import ServiceContext
from callout.storage import deliveries as store
from callout.storage.database import Connection

REDELIVER_BATCH = 500


async def list_deliveries(
    context: ServiceContext, principal: Principal, query: DeliveryQuery, *, with_total: bool = True
) -> Page[Delivery]:
    """One page of the caller's instance's deliveries, newest first; see the store for ``with_total``."""
    query.pagination.applied_limit  # noqa: B018 - raises LimitExceeded before touching the database
    async with context.database.read() as conn:
        return await store.list_deliveries(conn, principal.instance_id, query, with_total=with_total)


async def get_delivery(
    context: ServiceContext, principal: Principal, delivery_id: str
) -> tuple[Delivery, list[Attempt]]:
    """A delivery of the caller's instance with all its attempts."""
    async with context.database.read() as conn:
        delivery = await store.find_delivery(conn, principal.instance_id, delivery_id)
        if delivery is None:
            raise NotFound("Errors.Delivery.NotFound", "no delivery with this id")
        return delivery, await store.list_attempts(conn, delivery_id)


async def redeliver(context: ServiceContext, principal: Principal, delivery_id: str) -> datetime:
    """Queue a finished delivery again (same webhook-id); unknown or still queued ones are NotFound."""
    now = context.clock.now()

    async def requeue(conn: Connection) -> None:
        if not await store.redeliver(conn, principal.instance_id, [delivery_id], now):
            raise NotFound("Errors.Delivery.NotFound", "no finished delivery with this id")

    await context.database.write(requeue)
    return now


async def redeliver_failed(
    context: ServiceContext,
    principal: Principal,
    since: datetime,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Queue again every failed delivery created since ``since``, in batches; returns how many."""
    total = 0

    async def requeue_batch(conn: Connection) -> tuple[list[str], int]:
        ids = await store.failed_since(conn, principal.instance_id, since, REDELIVER_BATCH)
        return ids, await store.redeliver(conn, principal.instance_id, ids, context.clock.now()) if ids else 0

    while True:
        ids, count = await context.database.write(requeue_batch)
        total += count
        if progress is not None:
            progress(total)
        if len(ids) < REDELIVER_BATCH:
            break
    return total
