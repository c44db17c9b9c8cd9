"""Retention statements: delete one small batch of finished deliveries (with attempts) or unneeded events.

Each function deletes at most ``limit`` rows of its kind in the caller's transaction, so a write lock
is held only briefly (SQLite has one writer). On PostgreSQL the rows are chosen ``FOR UPDATE SKIP
LOCKED``: processes pruning at once take disjoint batches, and each counts only what it deleted.
What is kept, and why, is in docs/retention.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.deliveries import DeliveryState
from callout.storage.schema import aggregate_sequences, deliveries, delivery_attempts, events

FINISHED = (DeliveryState.SUCCEEDED.value, DeliveryState.FAILED.value)


@dataclass(frozen=True)
class Deleted:
    """Rows one batch deleted, by kind."""

    deliveries: int = 0
    attempts: int = 0
    events: int = 0


async def delete_finished_deliveries(conn: AsyncConnection, cutoff_us: int, limit: int) -> Deleted:
    """Delete up to ``limit`` deliveries that finished before the cutoff, with their attempts.

    A finished delivery was last due no later than it finished, so ``next_attempt_at < cutoff``
    changes nothing about which rows qualify; it lets the ``(state, next_attempt_at)`` index find
    them, one state at a time, instead of scanning the table.
    """
    ids: list[str] = []
    for state in FINISHED:
        chosen = (
            sa.select(deliveries.c.id)
            .where(
                deliveries.c.state == state,
                deliveries.c.next_attempt_at < cutoff_us,
                deliveries.c.updated_at < cutoff_us,
            )
            .limit(limit - len(ids))
            .with_for_update(skip_locked=True)
        )
        ids += (await conn.execute(chosen)).scalars()
        if len(ids) >= limit:
            break
    if not ids:
        return Deleted()
    attempts = await conn.execute(delivery_attempts.delete().where(delivery_attempts.c.delivery_id.in_(ids)))
    removed = await conn.execute(deliveries.delete().where(deliveries.c.id.in_(ids)))
    return Deleted(deliveries=int(removed.rowcount), attempts=int(attempts.rowcount))


async def delete_unneeded_events(conn: AsyncConnection, cutoff_us: int, limit: int) -> Deleted:
    """Delete up to ``limit`` events created before the cutoff that no delivery refers to.

    The newest event is always kept: SQLite numbers new events from the largest id, and would hand
    out a pruned id again.
    """
    referenced = sa.select(deliveries.c.id).where(deliveries.c.event_id == events.c.id).exists()
    newest = sa.select(sa.func.max(events.c.id)).scalar_subquery()
    chosen = (
        sa.select(events.c.id)
        .where(events.c.created_at < cutoff_us, events.c.id < newest, ~referenced)
        .order_by(events.c.created_at)
        .limit(limit)
        .with_for_update(of=events, skip_locked=True)
    )
    ids = list((await conn.execute(chosen)).scalars())
    if not ids:
        return Deleted()
    if conn.dialect.name != "postgresql":
        await _keep_last_sequences(conn, ids)
    removed = await conn.execute(events.delete().where(events.c.id.in_(ids)))
    return Deleted(events=int(removed.rowcount))


async def _keep_last_sequences(conn: AsyncConnection, ids: list[int]) -> None:
    """SQLite: remember each aggregate's last sequence, which it otherwise reads from its events.

    PostgreSQL keeps these counters on every append already.
    """
    key = (events.c.instance_id, events.c.aggregate_type, events.c.aggregate_id)
    last = sa.select(*key, sa.func.max(events.c.sequence)).where(events.c.id.in_(ids)).group_by(*key)
    insert = sqlite.insert(aggregate_sequences).from_select(
        ["instance_id", "aggregate_type", "aggregate_id", "last_sequence"], last
    )
    kept = aggregate_sequences.c.last_sequence
    upsert = insert.on_conflict_do_update(
        index_elements=["instance_id", "aggregate_type", "aggregate_id"],
        set_={"last_sequence": sa.func.max(kept, insert.excluded.last_sequence)},
    )
    await conn.execute(upsert)
