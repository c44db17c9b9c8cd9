"""Every statement of the delivery queue, in one place: enqueue, claim with a lease, finish, inspect.

Claiming compiles to ``FOR UPDATE SKIP LOCKED`` on PostgreSQL so that replicas never claim the same
delivery; on SQLite the write transaction (``BEGIN IMMEDIATE``) already serialises claimers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.clock import from_micros, to_micros
from callout.domain.deliveries import Attempt, Delivery, DeliveryQuery, DeliveryState, NewDelivery
from callout.domain.queries import Page
from callout.domain.trace_context import stored_trace_context
from callout.storage.database import signal_deliveries_after_commit
from callout.storage.schema import deliveries, delivery_attempts

NOTIFY_CHANNEL = "callout_deliveries"


def _delivery(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        instance_id=row.instance_id,
        target_id=row.target_id,
        execution_id=row.execution_id,
        event_id=row.event_id,
        payload=bytes(row.payload),
        state=DeliveryState(row.state),
        attempts=row.attempts,
        next_attempt_at=from_micros(row.next_attempt_at),
        lease_until=None if row.lease_until is None else from_micros(row.lease_until),
        created_at=from_micros(row.created_at),
        round_started_at=from_micros(row.round_started_at),
        updated_at=from_micros(row.updated_at),
        last_status=row.last_status,
        last_error=row.last_error,
        trace=stored_trace_context(row.traceparent, row.tracestate),
    )


async def enqueue(conn: AsyncConnection, new: list[NewDelivery], now: datetime) -> None:
    """Insert pending deliveries, due now, inside the caller's transaction; wake PostgreSQL workers."""
    if not new:
        return
    moment = to_micros(now)
    rows = [
        {
            "id": item.id,
            "instance_id": item.instance_id,
            "target_id": item.target_id,
            "execution_id": item.execution_id,
            "event_id": item.event_id,
            "payload": item.payload,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": moment,
            "lease_until": None,
            "created_at": moment,
            "round_started_at": moment,
            "updated_at": moment,
            "traceparent": None if item.trace is None else item.trace.traceparent,
            "tracestate": None if item.trace is None else item.trace.tracestate,
        }
        for item in new
    ]
    await conn.execute(deliveries.insert(), rows)
    await _wake_workers(conn)


async def _wake_workers(conn: AsyncConnection) -> None:
    signal_deliveries_after_commit(conn)
    if conn.dialect.name == "postgresql":  # delivered at commit, and only if the transaction commits
        await conn.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))


def _pending_due(moment: int) -> sa.ColumnElement[bool]:
    return sa.and_(deliveries.c.state == DeliveryState.PENDING.value, deliveries.c.next_attempt_at <= moment)


def _abandoned(moment: int) -> sa.ColumnElement[bool]:
    return sa.and_(deliveries.c.state == DeliveryState.IN_FLIGHT.value, deliveries.c.lease_until < moment)


async def claim_due(conn: AsyncConnection, now: datetime, lease: timedelta, limit: int) -> list[Delivery]:
    """Lease up to ``limit`` due deliveries: those whose lease expired first, then pending ones, oldest due first.

    Two statements rather than one with ``OR``: each branch walks the ``(state, next_attempt_at)``
    index, while an ``OR`` would scan and sort the whole table (finished deliveries included) on
    every claim.
    """
    moment = to_micros(now)
    claimed = await _claim(conn, _abandoned(moment), limit, now, lease)
    if len(claimed) < limit:
        claimed += await _claim(conn, _pending_due(moment), limit - len(claimed), now, lease)
    return claimed


async def _claim(
    conn: AsyncConnection,
    due: sa.ColumnElement[bool],
    limit: int,
    now: datetime,
    lease: timedelta,
) -> list[Delivery]:
    # Ordered by the index's second column: the walk needs no sort.
    due_ids = (
        sa.select(deliveries.c.id)
        .where(due)
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    moment = to_micros(now)
    claim = (
        deliveries.update()
        .where(deliveries.c.id.in_(due_ids))
        .values(state=DeliveryState.IN_FLIGHT.value, lease_until=to_micros(now + lease), updated_at=moment)
        .returning(*deliveries.c)
    )
    return [_delivery(row) for row in await conn.execute(claim)]


async def release(conn: AsyncConnection, held: list[Delivery], now: datetime, note: str | None) -> None:
    """Give leased deliveries back unsent: pending and due now, with no attempt counted.

    A lease that is no longer the one claimed (it expired and another worker holds it) is left alone.
    ``note`` (if given) becomes the delivery's ``last_error``, so an interrupted attempt stays visible.
    """
    if not held:
        return
    moment = to_micros(now)
    rows = [{"r_id": d.id, "r_lease": to_micros(d.lease_until) if d.lease_until else 0} for d in held]
    await conn.execute(_RELEASE.values(next_attempt_at=moment, updated_at=moment, last_error=_note(note)), rows)
    await _wake_workers(conn)


def _note(note: str | None) -> sa.ColumnElement[Any]:
    return deliveries.c.last_error if note is None else sa.literal(note)


_RELEASE = (
    deliveries.update()
    .where(
        deliveries.c.id == sa.bindparam("r_id"),
        deliveries.c.state == DeliveryState.IN_FLIGHT.value,
        deliveries.c.lease_until == sa.bindparam("r_lease"),
    )
    .values(state=DeliveryState.PENDING.value, lease_until=None)
)


@dataclass(frozen=True)
class Outcome:
    """One attempt to record and where it leaves its delivery."""

    delivery: Delivery
    attempt: Attempt
    state: DeliveryState
    next_attempt: datetime | None = None


async def record_outcomes(conn: AsyncConnection, outcomes: list[Outcome]) -> None:
    """Log a batch of attempts and move their deliveries on, with two statements."""
    if not outcomes:
        return
    attempts = [_attempt_row(outcome.attempt) for outcome in outcomes]
    updates = [_update_row(outcome) for outcome in outcomes]
    if conn.dialect.name == "postgresql":
        # One statement each over array parameters: an executemany, even pipelined, costs the
        # driver a round of Python work per row, a third of a worker's time at a few thousand/s.
        await conn.execute(_PG_INSERT_ATTEMPTS, _columns(attempts))
        # A delivery twice in one batch (an old result recorded late): the later outcome wins, as in order.
        await conn.execute(_PG_UPDATE_DELIVERIES, _columns(list({row["b_id"]: row for row in updates}.values())))
        return
    await conn.execute(delivery_attempts.insert(), attempts)
    await conn.execute(_UPDATE_DELIVERY, updates)


def _columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one list per column: the array parameters of an ``unnest``."""
    return {name: [row[name] for row in rows] for name in rows[0]}


_PG_INSERT_ATTEMPTS = sa.text(
    "INSERT INTO delivery_attempts (delivery_id, number, started_at, status, latency_us, error, response_head) "
    "SELECT * FROM unnest(CAST(:delivery_id AS varchar[]), CAST(:number AS integer[]), "
    "CAST(:started_at AS bigint[]), CAST(:status AS integer[]), CAST(:latency_us AS bigint[]), "
    "CAST(:error AS text[]), CAST(:response_head AS text[]))"
)
_PG_UPDATE_DELIVERIES = sa.text(
    "UPDATE deliveries SET state = v.state, attempts = v.attempts, lease_until = NULL, updated_at = v.updated, "
    "last_status = v.status, last_error = v.error, next_attempt_at = v.next "
    "FROM unnest(CAST(:b_id AS varchar[]), CAST(:b_state AS varchar[]), CAST(:b_attempts AS integer[]), "
    "CAST(:b_updated AS bigint[]), CAST(:b_status AS integer[]), CAST(:b_error AS text[]), "
    "CAST(:b_next AS bigint[])) AS v(id, state, attempts, updated, status, error, next) "
    "WHERE deliveries.id = v.id"
)
_UPDATE_DELIVERY = (
    deliveries.update()
    .where(deliveries.c.id == sa.bindparam("b_id"))
    .values(
        state=sa.bindparam("b_state"),
        attempts=sa.bindparam("b_attempts"),
        lease_until=None,
        updated_at=sa.bindparam("b_updated"),
        last_status=sa.bindparam("b_status"),
        last_error=sa.bindparam("b_error"),
        next_attempt_at=sa.bindparam("b_next"),
    )
)


def _attempt_row(attempt: Attempt) -> dict[str, Any]:
    return {
        "delivery_id": attempt.delivery_id,
        "number": attempt.number,
        "started_at": to_micros(attempt.started_at),
        "status": attempt.status,
        "latency_us": attempt.latency // timedelta(microseconds=1),
        "error": attempt.error,
        "response_head": attempt.response_head,
    }


def _update_row(outcome: Outcome) -> dict[str, Any]:
    delivery, attempt = outcome.delivery, outcome.attempt
    due = outcome.next_attempt or delivery.next_attempt_at
    return {
        "b_id": delivery.id,
        "b_state": outcome.state.value,
        "b_attempts": delivery.attempts + 1,
        "b_updated": to_micros(attempt.started_at + attempt.latency),
        "b_status": attempt.status,
        "b_error": attempt.error,
        "b_next": to_micros(due),
    }


async def last_attempt_numbers(conn: AsyncConnection, delivery_ids: list[str]) -> dict[str, int]:
    """The highest attempt number logged for each delivery (absent: none yet)."""
    if not delivery_ids:
        return {}
    query = (
        sa.select(delivery_attempts.c.delivery_id, sa.func.max(delivery_attempts.c.number))
        .where(delivery_attempts.c.delivery_id.in_(delivery_ids))
        .group_by(delivery_attempts.c.delivery_id)
    )
    return {row[0]: int(row[1]) for row in await conn.execute(query)}


async def find_delivery(conn: AsyncConnection, instance_id: str, delivery_id: str) -> Delivery | None:
    """The instance's delivery with this id, or None."""
    query = sa.select(deliveries).where(deliveries.c.instance_id == instance_id, deliveries.c.id == delivery_id)
    row = (await conn.execute(query)).first()
    return None if row is None else _delivery(row)


async def list_attempts(conn: AsyncConnection, delivery_id: str) -> list[Attempt]:
    """Every attempt of a delivery, oldest first."""
    query = sa.select(delivery_attempts).where(delivery_attempts.c.delivery_id == delivery_id)
    rows = await conn.execute(query.order_by(delivery_attempts.c.id))
    return [
        Attempt(
            delivery_id=row.delivery_id,
            number=row.number,
            started_at=from_micros(row.started_at),
            latency=timedelta(microseconds=row.latency_us),
            status=row.status,
            error=row.error,
            response_head=row.response_head,
        )
        for row in rows
    ]


async def list_deliveries(
    conn: AsyncConnection, instance_id: str, query: DeliveryQuery, *, with_total: bool = True
) -> Page[Delivery]:
    """One page of the instance's deliveries, newest first unless asc.

    Without ``with_total`` the matches are not counted (a count reads every match): the page's
    total is then the offset plus the rows found up to one past the page, so it exceeds the page's
    end exactly when more follow.
    """
    limit = query.pagination.applied_limit
    conditions = _filters(instance_id, query)
    order = (deliveries.c.created_at, deliveries.c.id)
    ordering = [c.asc() for c in order] if query.pagination.asc else [c.desc() for c in order]
    select = sa.select(deliveries).where(*conditions).order_by(*ordering).offset(query.pagination.applied_offset)
    if not with_total:
        rows = list(await conn.execute(select.limit(limit + 1)))
        found = tuple(_delivery(row) for row in rows[:limit])
        return Page(found, query.pagination.applied_offset + len(rows), limit)
    total = (await conn.execute(sa.select(sa.func.count()).select_from(deliveries).where(*conditions))).scalar_one()
    rows = list(await conn.execute(select.limit(limit)))
    return Page(tuple(_delivery(row) for row in rows), total, limit)


def _filters(instance_id: str, query: DeliveryQuery) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = [deliveries.c.instance_id == instance_id]
    if query.target_id:
        conditions.append(deliveries.c.target_id == query.target_id)
    if query.execution_id:
        conditions.append(deliveries.c.execution_id == query.execution_id)
    if query.states:
        conditions.append(deliveries.c.state.in_([state.value for state in query.states]))
    if query.created_after is not None:
        conditions.append(deliveries.c.created_at >= to_micros(query.created_after))
    if query.created_before is not None:
        conditions.append(deliveries.c.created_at < to_micros(query.created_before))
    return conditions


async def redeliver(conn: AsyncConnection, instance_id: str, ids: list[str], now: datetime) -> int:
    """Make finished deliveries pending again, due now, with a fresh round of attempts."""
    moment = to_micros(now)
    finished = deliveries.c.state.in_([DeliveryState.SUCCEEDED.value, DeliveryState.FAILED.value])
    result = await conn.execute(
        deliveries.update()
        .where(deliveries.c.instance_id == instance_id, deliveries.c.id.in_(ids), finished)
        .values(
            state=DeliveryState.PENDING.value,
            attempts=0,
            next_attempt_at=moment,
            round_started_at=moment,
            updated_at=moment,
        )
    )
    await _wake_workers(conn)
    return int(result.rowcount)


async def failed_since(conn: AsyncConnection, instance_id: str, since: datetime, limit: int) -> list[str]:
    """Ids of the instance's failed deliveries created at or after ``since``, oldest first."""
    query = (
        sa.select(deliveries.c.id)
        .where(
            deliveries.c.instance_id == instance_id,
            deliveries.c.state == DeliveryState.FAILED.value,
            deliveries.c.created_at >= to_micros(since),
        )
        .order_by(deliveries.c.created_at, deliveries.c.id)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


async def queue_stats(conn: AsyncConnection, now: datetime) -> tuple[int, float]:
    """Queued deliveries (pending or in flight) and the age in seconds of the oldest due one."""
    open_states = [DeliveryState.PENDING.value, DeliveryState.IN_FLIGHT.value]
    depth = (await conn.execute(sa.select(sa.func.count()).where(deliveries.c.state.in_(open_states)))).scalar_one()
    moment = to_micros(now)
    due_since = [
        (await conn.execute(sa.select(sa.func.min(deliveries.c.next_attempt_at)).where(condition))).scalar()
        for condition in (_pending_due(moment), _abandoned(moment))  # one index walk each, as in claim_due
    ]
    oldest = min((int(value) for value in due_since if value is not None), default=None)
    age = 0.0 if oldest is None else max(0.0, (moment - oldest) / 1_000_000)
    return int(depth), age
