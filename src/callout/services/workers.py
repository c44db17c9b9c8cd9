"""A pool of delivery workers for one process, with the PostgreSQL wake-up listener, queue gauges and pruner.

Stopping drains the pool (docs/shutdown.md): nothing more is claimed, the sends under way get a
grace period to finish and be recorded, and those still running when it ends are cut short and their
leases given back, so the next process sends them at once instead of after the lease expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import structlog

from callout.errors import FailedPrecondition, Unavailable
from callout.services.context import ServiceContext
from callout.services.datadir import secure_directory
from callout.services.retention import Pruner, retention_enabled
from callout.services.worker import DeliveryWorker, WorkerSettings, WorkerStats
from callout.storage import deliveries as store
from callout.storage.notify import listen_for_deliveries

log = structlog.get_logger("callout.workers")
GAUGE_REFRESH_SECONDS = 5.0


@dataclass
class QueueGauges:
    """The queue as last measured: deliveries still open and the age of the oldest due one."""

    depth: int = 0
    oldest_due_seconds: float = 0.0


@dataclass(frozen=True)
class DrainReport:
    """What stopping did: attempts recorded after the stop was asked, leases given back, time taken."""

    finished: int = 0
    released: int = 0
    seconds: float = 0.0


class WorkerPool:
    """Runs ``count`` workers until stopped; stopping gives sends under way ``grace`` seconds to finish."""

    def __init__(
        self, context: ServiceContext, count: int, settings: WorkerSettings | None = None, grace: float = 10.0
    ) -> None:
        self.workers = [DeliveryWorker(context, settings) for _ in range(count)]
        settings = settings or WorkerSettings()
        # Every process that delivers also prunes (docs/retention.md).
        self.pruner = Pruner(context, settings.retention, settings.prune_interval, lambda: self._counts()[0])
        self.prunes = retention_enabled(settings.retention)
        self.gauges = QueueGauges()
        self.grace = grace
        self.report: DrainReport | None = None  # set once stopped
        self._context = context
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._cut_timer: asyncio.TimerHandle | None = None
        self._stopping_since = 0.0
        self._counts_at_stop = (0, 0)

    def start(self) -> None:
        """Start the workers, the listener and the gauge refresher in the running loop."""
        if not self.workers:
            return
        coroutines = [worker.run(self._stop) for worker in self.workers]
        coroutines += [listen_for_deliveries(self._context.database, self._stop), self._refresh_gauges()]
        if self.prunes:
            coroutines.append(self.pruner.run(self._stop))
        self._tasks = [asyncio.create_task(coroutine) for coroutine in coroutines]
        log.info("workers.started", count=len(self.workers))

    async def drain(self, grace: float | None = None) -> DrainReport:
        """Stop claiming, give the sends under way ``grace`` seconds (default the pool's), give back the rest."""
        self.request_stop(grace)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._cut_timer is not None:
            self._cut_timer.cancel()
        (recorded, released), (recorded_before, released_before) = self._counts(), self._counts_at_stop
        seconds = time.monotonic() - self._stopping_since
        self.report = DrainReport(recorded - recorded_before, released - released_before, seconds)
        return self.report

    async def stop(self) -> DrainReport:
        """Drain with the pool's grace period, counted from the first stop request."""
        return await self.drain()

    async def wait(self) -> DrainReport:
        """Run until a stop is requested, then drain (for ``callout worker``)."""
        await self._stop.wait()
        return await self.drain()

    def request_stop(self, grace: float | None = None) -> None:
        """Stop claiming now and cut the sends under way ``grace`` seconds later; only the first request counts.

        Call it from the event loop (``loop.add_signal_handler`` handlers run there).
        """
        if self._stop.is_set():
            return
        self._stop.set()
        self._stopping_since = time.monotonic()
        self._counts_at_stop = self._counts()
        seconds = self.grace if grace is None else grace
        self._cut_timer = asyncio.get_running_loop().call_later(seconds, self.interrupt)

    def interrupt(self) -> None:
        """Cut the sends under way short now (grace over, or a second signal); their leases are given back."""
        self.request_stop()
        for worker in self.workers:
            worker.interrupt()

    def _counts(self) -> tuple[int, int]:
        stats = self.stats
        return sum(sum(s.outcomes.values()) for s in stats), sum(s.released for s in stats)

    @property
    def context(self) -> ServiceContext:
        """The services the workers use."""
        return self._context

    @property
    def stats(self) -> list[WorkerStats]:
        """Every worker's counters."""
        return [worker.stats for worker in self.workers]

    async def _refresh_gauges(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Unavailable):
                async with self._context.database.read() as conn:
                    depth, age = await store.queue_stats(conn, self._context.clock.now())
                self.gauges = QueueGauges(depth, age)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=GAUGE_REFRESH_SECONDS)


def lock_sqlite_data_dir(data_dir: Path) -> IO[str]:
    """Refuse a second process on one SQLite database; returns the open lock file (keep it open)."""
    secure_directory(data_dir)
    lock_path = data_dir / "callout.lock"
    handle = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise FailedPrecondition(
            "Errors.Process.SQLiteBusy",
            f"another callout process is using the SQLite database in {data_dir}; SQLite supports one "
            "process (serve or worker) at a time - use PostgreSQL (--database-url) to run several",
        ) from error
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
