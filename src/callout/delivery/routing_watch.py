"""The routing snapshot a DispatchClient keeps per host service, kept fresh by a long poll.

``GetRouting`` answers which request and response executions concern a service, with the
instance's routing version; passing that version back with a ``wait`` makes callout hold the call
until the version moves (a change) or the wait ends. One background task per service does this in a
loop, so a change reaches every host replica within about callout's version poll interval (0.2 s)
plus a round trip, while requests themselves never wait for it. A long poll rather than a check
piggybacked on requests: idle replicas stay fresh too, and no request ever pays for the check
(docs/host-middleware.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import structlog

from callout.delivery.dispatch_errors import DispatchError

RETRY_BASE_SECONDS = 0.25
RETRY_MAX_SECONDS = 5.0
# callout answers these to an RPC it does not have (an older server): the client behaves as before.
UNSUPPORTED = frozenset({404, 501})

log = structlog.get_logger("callout.integrations")
Fetch = Callable[[str, int | None, float], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class RoutingSnapshot:
    """The request/response execution ids concerning a service, each with whether it interrupts on error."""

    version: int
    executions: Mapping[str, bool]

    def applies(self, kind: str, method: str) -> bool | None:
        """Whether the best-matching ``request``/``response`` execution of ``method`` interrupts; None: none applies."""
        for candidate in _candidate_ids(kind, method):
            if candidate in self.executions:
                return self.executions[candidate]
        return None


def _candidate_ids(kind: str, method: str) -> tuple[str, str, str]:
    # callout's best match for a method (engine/router.py): the method, then its service, then all.
    service = method.strip("/").split("/")[0]
    return f"{kind}{method}", f"{kind}/{service}", kind


@dataclass
class RoutingStats:
    """Counters a host can read (``DispatchClient.stats``); ``add`` is safe from any thread.

    WSGI worker threads and the client's event loop thread count on the same object, and
    ``counter += 1`` is a read then a write that another thread may slip between (an increment lost),
    so every increment goes through ``add`` under one lock. Reading an attribute needs no lock.
    """

    calls_avoided: int = 0  # requests that reached the app without any Dispatch call
    executions_skipped: int = 0  # non-interrupting executions skipped because callout was unreachable
    refused_unavailable: int = 0  # requests answered 503 because callout was unreachable
    snapshots: int = 0  # snapshots received
    poll_failures: int = 0  # GetRouting calls that failed

    def __post_init__(self) -> None:
        # Not a dataclass field, so that asdict(), replace() and == see the counters only.
        self._lock = threading.Lock()

    def add(self, name: str, amount: int = 1) -> None:
        """Add ``amount`` to the counter ``name``; an unknown name is a ValueError (a typo must not count nowhere)."""
        if name not in COUNTERS:
            raise ValueError(f"RoutingStats has no counter {name!r}")
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)


COUNTERS = frozenset(item.name for item in fields(RoutingStats))


def parse_snapshot(answer: Mapping[str, Any]) -> RoutingSnapshot:
    """A snapshot from a GetRouting answer; anything malformed is a ValueError."""
    items = answer.get("executions", [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ValueError("executions is not a list of objects")
    executions = {str(item["id"]): bool(item.get("interruptOnError", False)) for item in items}
    return RoutingSnapshot(int(answer.get("version", 0)), executions)


def parse_or_fail(answer: Mapping[str, Any]) -> RoutingSnapshot:
    """``parse_snapshot``, a malformed answer being a DispatchError (502) like any other bad answer."""
    try:
        return parse_snapshot(answer)
    except (KeyError, TypeError, ValueError) as error:
        raise DispatchError(502, "internal", f"callout's routing answer is malformed: {error}") from None


class RoutingWatch:
    """Keeps the newest snapshot of one service: a first call, then long polls holding its version."""

    def __init__(self, fetch: Fetch, service: str, stats: RoutingStats, wait_seconds: float) -> None:
        self.service = service
        self.snapshot: RoutingSnapshot | None = None
        self.reachable = False
        self.unsupported = False
        self._fetch = fetch
        self._stats = stats
        self._wait_seconds = wait_seconds
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Poll in the running event loop: start, or restart if the loop that polled is gone."""
        task, loop = self._task, asyncio.get_running_loop()
        if self.unsupported or (task is not None and not task.done() and task.get_loop() is loop):
            return
        if task is not None:  # its loop ended (e.g. a test client's): what it knew may be stale by now
            self.snapshot, self.reachable = None, False
        self._task = loop.create_task(self._run(), name=f"callout-routing-{self.service}")

    async def stop(self) -> None:
        """Stop polling."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def refresh(self) -> None:
        """Fetch the current snapshot now, without waiting for a change (nothing from a callout without it)."""
        try:
            self._take(parse_or_fail(await self._fetch(self.service, None, 0.0)))
        except DispatchError as error:
            if error.status not in UNSUPPORTED:
                raise
            self.unsupported = True

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._refresh()
                failures = 0
                continue
            except DispatchError as error:
                if error.status in UNSUPPORTED:
                    self.unsupported = True
                    log.warning("callout.routing_unsupported", service=self.service, status=error.status)
                    return
                message = error.message
            except Exception as error:  # the poll must outlive any surprise; it is logged
                message = f"unexpected {type(error).__name__}"
            failures += 1
            self._failed(message)
            await asyncio.sleep(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** min(failures, 8)))

    async def _refresh(self) -> None:
        # After a failure ask without waiting, so that a callout back up is known to be at once.
        known = self.snapshot.version if self.snapshot is not None and self.reachable else None
        answer = await self._fetch(self.service, known, self._wait_seconds if known is not None else 0.0)
        self._take(parse_or_fail(answer))

    def _take(self, snapshot: RoutingSnapshot) -> None:
        # A refresh and the poll may answer out of order: never go back to an older version.
        if self.snapshot is None or not self.reachable or snapshot.version >= self.snapshot.version:
            self.snapshot = snapshot
        self.reachable = True
        self._stats.add("snapshots")

    def _failed(self, message: str) -> None:
        if self.reachable:  # one line per outage, not one per retry
            log.warning("callout.routing_unreachable", service=self.service, error=message)
        self.reachable = False
        self._stats.add("poll_failures")


class RoutingWatches:
    """A Dispatch client's snapshots, one watch per service, all polling through ``fetch``.

    Both clients keep their routing with it: ``DispatchClient`` fetches over GetRouting,
    ``EmbeddedDispatch`` reads the database. With ``keep=False`` nothing is kept (every request calls).
    """

    def __init__(self, fetch: Fetch, stats: RoutingStats, wait_seconds: float, *, keep: bool = True) -> None:
        self._fetch = fetch
        self._stats = stats
        self._wait_seconds = wait_seconds
        self._keep = keep
        self._watches: dict[str, RoutingWatch] = {}

    def snapshot(self, service: str) -> RoutingSnapshot | None:
        """The newest snapshot of ``service``; None until the first arrived. The first call starts the poll."""
        if not self._keep:
            return None
        watch = self._watches.get(service)
        if watch is None:
            watch = self._watches[service] = RoutingWatch(self._fetch, service, self._stats, self._wait_seconds)
        watch.ensure_running()
        return watch.snapshot

    async def refresh(self) -> None:
        """Fetch every kept snapshot now."""
        for watch in list(self._watches.values()):
            await watch.refresh()

    async def stop(self) -> None:
        """Stop every poll (a later ``snapshot`` starts them again)."""
        watches, self._watches = list(self._watches.values()), {}
        for watch in watches:
            await watch.stop()
