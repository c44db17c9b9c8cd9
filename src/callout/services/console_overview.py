"""What the console's Overview page shows about one instance, and the Actions switch it offers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callout.domain.clock import from_micros, to_micros
from callout.domain.instances import Instance, is_feature_enabled
from callout.errors import NotFound
from callout.services.context import ServiceContext
from callout.services.instances import set_feature
from callout.storage import console_overview as store
from callout.storage import instances as instance_store

HEALTH_HOURS = 24
OUTCOMES = ("succeeded", "failed", "retrying")
# The delivery figures scan a day of deliveries (a second or more at 100,000 on SQLite): a page load
# reuses them for this long instead (docs/console.md, Overview).
FIGURES_TTL_SECONDS = 10.0


@dataclass
class HourHealth:
    """Deliveries by outcome in one hour of the health chart."""

    start: datetime
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    @property
    def total(self) -> int:
        """Every delivery counted in the hour."""
        return sum(self.counts.values())


@dataclass(frozen=True)
class Overview:
    """The instance, its Actions switch, catalog sizes, delivery health and the queue."""

    instance: Instance
    actions_enabled: bool
    targets: int
    executions: int
    hours: list[HourHealth]
    queue_depth: int
    oldest_due: datetime | None
    figures_as_of: datetime | None = None

    @property
    def busiest_hour(self) -> int:
        """The largest hourly total (at least 1), which the chart scales its bars to."""
        return max([1, *(hour.total for hour in self.hours)])


@dataclass(frozen=True)
class DeliveryFigures:
    """The Overview's delivery figures: health by hour and the queue, as read at ``as_of``."""

    hours: list[HourHealth]
    queue_depth: int
    oldest_due: datetime | None
    as_of: datetime


class FiguresCache:
    """Each instance's delivery figures, read at most once per ``ttl`` seconds by one reader at a time."""

    def __init__(self, ttl: float = FIGURES_TTL_SECONDS) -> None:
        self._ttl = ttl
        self._kept: dict[str, tuple[float, DeliveryFigures]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def figures(self, context: ServiceContext, instance_id: str) -> DeliveryFigures:
        """The kept figures while fresh, else newly read ones (concurrent callers wait for one read)."""
        async with self._locks.setdefault(instance_id, asyncio.Lock()):
            kept = self._kept.get(instance_id)
            if kept is not None and time.monotonic() - kept[0] < self._ttl:
                return kept[1]
            figures = await read_figures(context, instance_id)
            self._kept[instance_id] = (time.monotonic(), figures)
            return figures


async def read_figures(context: ServiceContext, instance_id: str) -> DeliveryFigures:
    """The delivery health of the last 24 hours and the queue, read now."""
    now = context.clock.now()
    since = _hour_floor(now) - timedelta(hours=HEALTH_HOURS - 1)
    async with context.database.read() as conn:
        counts = await store.delivery_outcomes_by_hour(conn, instance_id, to_micros(since))
        depth, oldest_due_us = await store.queue_depth(conn, instance_id, to_micros(now))
    oldest_due = None if oldest_due_us is None else from_micros(oldest_due_us)
    return DeliveryFigures(_hours(since, counts), depth, oldest_due, now)


async def load_overview(context: ServiceContext, instance_id: str, cache: FiguresCache | None = None) -> Overview:
    """Read everything the Overview shows; the delivery figures through ``cache`` when given."""
    async with context.database.read() as conn:
        instance = await instance_store.find_instance(conn, instance_id)
        if instance is None:
            raise NotFound("Errors.Instance.NotFound", instance_id)
        targets = await store.count_targets(conn, instance_id)
        executions = await store.count_executions(conn, instance_id)
    figures = await (cache.figures(context, instance_id) if cache else read_figures(context, instance_id))
    return Overview(
        instance=instance,
        actions_enabled=is_feature_enabled(instance.features, "actions"),
        targets=targets,
        executions=executions,
        hours=figures.hours,
        queue_depth=figures.queue_depth,
        oldest_due=figures.oldest_due,
        figures_as_of=figures.as_of if cache else None,
    )


def _hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _hours(since: datetime, counts: list[store.HourCount]) -> list[HourHealth]:
    hours = [HourHealth(since + timedelta(hours=offset)) for offset in range(HEALTH_HOURS)]
    for count in counts:
        if 0 <= count.hour < HEALTH_HOURS:
            hours[count.hour].counts[count.outcome] += count.count
    return hours


async def switch_actions(context: ServiceContext, instance_id: str, enabled: bool) -> None:
    """Switch the instance's Actions feature on or off (the caller has checked the right to)."""
    await set_feature(context, instance_id, "actions", enabled)
