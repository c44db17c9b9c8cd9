"""Retention: delete finished deliveries, their attempts and unneeded events once older than the period.

``prune`` deletes everything due at once, in small transactions (a few hundred rows each) with a
pause between them, so that deliveries keep flowing: SQLite has one writer, and a long delete would
stop every worker. ``Pruner`` runs it periodically in each process that runs delivery workers; on
PostgreSQL several may prune at once (storage/retention.py). What is kept is in docs/retention.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from callout.domain.clock import to_micros
from callout.domain.durations import format_duration
from callout.errors import Unavailable
from callout.services.context import ServiceContext
from callout.storage import retention as store
from callout.storage.database import Connection
from callout.storage.vacuum import PAGES_PER_STEP, give_back_space

log = structlog.get_logger("callout.retention")
BATCH_ROWS = 500
# Between batches: room for the workers' claims and records to take the write lock; longer while
# deliveries are flowing, so that pruning yields to them and catches up when they are idle.
PAUSE_SECONDS = 0.01
BUSY_PAUSE_SECONDS = 0.05
PRUNE_INTERVAL_SECONDS = 60.0

Step = Callable[[Connection, int, int], Awaitable[store.Deleted]]
# Deliveries first: an event is only free to go once the deliveries that carry it are gone.
STEPS: tuple[Step, ...] = (store.delete_finished_deliveries, store.delete_unneeded_events)


@dataclass
class PruneCounts:
    """Rows deleted so far, by kind."""

    deliveries: int = 0
    attempts: int = 0
    events: int = 0

    def add(self, deleted: store.Deleted) -> None:
        """Count one batch."""
        self.deliveries += deleted.deliveries
        self.attempts += deleted.attempts
        self.events += deleted.events

    @property
    def total(self) -> int:
        """Every row deleted."""
        return self.deliveries + self.attempts + self.events

    def by_kind(self) -> dict[str, int]:
        """The counts as the metric's ``kind`` label values."""
        return {"deliveries": self.deliveries, "attempts": self.attempts, "events": self.events}


def retention_enabled(retention: timedelta) -> bool:
    """A retention of 0 keeps everything forever: automatic pruning is off."""
    return retention > timedelta(0)


async def prune(
    context: ServiceContext,
    older_than: timedelta,
    counts: PruneCounts | None = None,
    on_batch: Callable[[PruneCounts], None] | None = None,
    stop: asyncio.Event | None = None,
    pause: Callable[[], float] = lambda: PAUSE_SECONDS,
) -> PruneCounts:
    """Delete what finished (events: were created) more than ``older_than`` ago, adding to ``counts``."""
    # In integer microseconds: a period longer than the calendar (e.g. 99999999d) just prunes nothing.
    cutoff = to_micros(context.clock.now()) - older_than // timedelta(microseconds=1)
    counts = PruneCounts() if counts is None else counts
    for step in STEPS:
        while not (stop and stop.is_set()):
            deleted = await context.database.write(functools.partial(_run_step, step, cutoff))
            counts.add(deleted)
            if on_batch is not None:
                on_batch(counts)
            await give_back_space(context.database, at_least=PAGES_PER_STEP)
            if max(deleted.deliveries, deleted.events) < BATCH_ROWS:
                break
            await asyncio.sleep(pause())
    await give_back_space(context.database)
    return counts


async def _run_step(step: Step, cutoff: int, conn: Connection) -> store.Deleted:
    return await step(conn, cutoff, BATCH_ROWS)


class Pruner:
    """Prunes every ``interval`` seconds until stopped; keeps the running counts for the metric."""

    def __init__(
        self,
        context: ServiceContext,
        retention: timedelta,
        interval: float,
        activity: Callable[[], int] | None = None,
    ) -> None:
        self.counts = PruneCounts()
        self._context = context
        self._retention = retention
        self._interval = interval
        # A count that grows while deliveries are made (attempts recorded), to tell a busy queue.
        self._activity = activity
        self._last_activity = activity() if activity is not None else 0

    @property
    def retention(self) -> timedelta:
        """The period after which finished deliveries go."""
        return self._retention

    async def run(self, stop: asyncio.Event) -> None:
        """Prune now, then every interval (with jitter, so replicas spread out); outages are logged, not fatal."""
        while not stop.is_set():
            before = self.counts.total
            try:
                await prune(self._context, self._retention, self.counts, stop=stop, pause=self._pause)
            except Unavailable as error:
                log.warning("retention.database_unavailable", detail=error.detail)
            if self.counts.total > before:
                period = format_duration(self._retention)
                log.info("retention.pruned_since_start", older_than=period, **self.counts.by_kind())
            with contextlib.suppress(TimeoutError):
                jitter = random.uniform(0.8, 1.2)  # noqa: S311 - not a secret
                await asyncio.wait_for(stop.wait(), timeout=self._interval * jitter)

    def _pause(self) -> float:
        """The pause before the next batch: long if deliveries were made since the last one, else short."""
        if self._activity is None:
            return PAUSE_SECONDS
        now = self._activity()
        busy, self._last_activity = now != self._last_activity, now
        return BUSY_PAUSE_SECONDS if busy else PAUSE_SECONDS
