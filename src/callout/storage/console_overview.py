"""The figures the console's Overview shows, each in one query (docs/console.md)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from callout.domain.deliveries import DeliveryState
from callout.storage.schema import deliveries, executions, targets

HOUR_US = 3_600_000_000
_WAITING = (DeliveryState.PENDING.value, DeliveryState.IN_FLIGHT.value)


@dataclass(frozen=True)
class HourCount:
    """How many deliveries of one outcome were last updated in one hour (0 = the oldest hour)."""

    hour: int
    outcome: str
    count: int


async def count_targets(conn: AsyncConnection, instance_id: str) -> int:
    """The instance's targets, deleted ones left out."""
    live = sa.and_(targets.c.instance_id == instance_id, targets.c.deleted_at.is_(None))
    query = sa.select(sa.func.count()).select_from(targets).where(live)
    return int((await conn.execute(query)).scalar() or 0)


async def count_executions(conn: AsyncConnection, instance_id: str) -> int:
    """The instance's executions."""
    query = sa.select(sa.func.count()).select_from(executions).where(executions.c.instance_id == instance_id)
    return int((await conn.execute(query)).scalar() or 0)


async def delivery_outcomes_by_hour(conn: AsyncConnection, instance_id: str, since_us: int) -> list[HourCount]:
    """Deliveries updated since ``since_us`` counted by hour and outcome: succeeded, failed or retrying.

    Retrying means still pending or in flight after at least one attempt; deliveries not tried yet
    are queue depth, not health, and are left out.
    """
    outcome = sa.case(
        (deliveries.c.state == DeliveryState.SUCCEEDED.value, "succeeded"),
        (deliveries.c.state == DeliveryState.FAILED.value, "failed"),
        else_="retrying",
    ).label("outcome")
    # Integer (floor) division: "/" would be true division, and casting its result back rounds.
    hour = ((deliveries.c.updated_at - since_us) // HOUR_US).label("hour")
    tried = sa.or_(deliveries.c.state.not_in(_WAITING), deliveries.c.attempts > 0)
    query = (
        sa.select(hour, outcome, sa.func.count().label("count"))
        .where(deliveries.c.instance_id == instance_id, deliveries.c.updated_at >= since_us, tried)
        .group_by(hour, outcome)
    )
    return [HourCount(int(row.hour), str(row.outcome), int(row[2])) for row in await conn.execute(query)]


async def queue_depth(conn: AsyncConnection, instance_id: str, now_us: int) -> tuple[int, int | None]:
    """Deliveries waiting (pending or in flight), and when the longest-due pending one became due."""
    waiting = sa.and_(deliveries.c.instance_id == instance_id, deliveries.c.state.in_(_WAITING))
    due = sa.and_(deliveries.c.state == DeliveryState.PENDING.value, deliveries.c.next_attempt_at <= now_us)
    query = sa.select(
        sa.func.count(),
        sa.func.min(sa.case((due, deliveries.c.next_attempt_at), else_=None)),
    ).where(waiting)
    row = (await conn.execute(query)).one()
    return int(row[0] or 0), None if row[1] is None else int(row[1])
