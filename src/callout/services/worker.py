"""Delivery workers: claim due deliveries with a lease, send them, record the attempt, retry or finish.

At least once: a delivery is only marked done after its attempt is recorded, and a worker that dies
mid-flight leaves a lease that expires, making the delivery due again. Receivers drop duplicates by
``webhook-id``, which is the delivery's id and stays the same across retries.

Wake-ups: commits that enqueue set an in-process event; on PostgreSQL other processes' commits arrive
through LISTEN/NOTIFY; polling every ``poll_interval`` is the fallback for both.

Stopping (docs/shutdown.md): once ``stop`` is set nothing more is claimed and the sends under way
finish and are recorded; ``interrupt`` cuts them short, and their leases are given back unsent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from callout.delivery.sender import DeliveryError, OutboundResponse
from callout.domain.deliveries import Attempt, Delivery, DeliveryState
from callout.domain.retry import RetryPolicy, Verdict, classify, parse_retry_after
from callout.domain.targets import PayloadType
from callout.engine.router import RoutedTarget, Router, WebKey
from callout.errors import CalloutError, Unavailable
from callout.services.context import ServiceContext
from callout.services.inflight import InFlight
from callout.services.routing import load_routed_target
from callout.services.webkeys import ensure_web_key
from callout.storage import deliveries as store
from callout.storage.database import Connection
from callout.tracing import TRACING

log = structlog.get_logger("callout.worker")
RESPONSE_HEAD_BYTES = 1024
SIGNED_PAYLOADS = (PayloadType.JWT, PayloadType.JWE)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INTERRUPTED = "interrupted: the process shut down during this attempt; not counted, sent again"


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker claims and retries."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    # Sends in flight at most (CALLOUT_DELIVERY_BATCH_SIZE); run_once claims this many at a time.
    batch_size: int = 100
    lease: timedelta = timedelta(seconds=60)
    poll_interval: float = 1.0
    max_backoff: float = 30.0
    # Finished deliveries and unneeded events older than this are pruned; 0 keeps them forever (docs/retention.md).
    retention: timedelta = timedelta(0)
    prune_interval: float = 60.0


@dataclass(frozen=True)
class AttemptResult:
    """What one send produced, before it is written."""

    delivery: Delivery
    attempt: Attempt
    verdict: Verdict
    retry_after: timedelta | None = None


@dataclass
class WorkerStats:
    """Counters exported as metrics."""

    outcomes: collections.Counter[str] = field(default_factory=collections.Counter)
    retries: int = 0
    # One histogram for all targets: a label per target (or instance) would grow without bound and
    # show every tenant's ids to whoever scrapes (docs/operations.md).
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))  # + overflow
    latency_sum_us: int = 0
    released: int = 0  # leases given back unsent at shutdown

    def observe(self, seconds: float) -> None:
        """Count one attempt's latency in its bucket."""
        index = next((i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound), len(LATENCY_BUCKETS))
        self.latency[index] += 1
        self.latency_sum_us += int(seconds * 1_000_000)


class DeliveryWorker:
    """One worker loop; several may run per process and per database (PostgreSQL)."""

    def __init__(self, context: ServiceContext, settings: WorkerSettings | None = None) -> None:
        self._context = context
        self._settings = settings or WorkerSettings()
        self.stats = WorkerStats()
        self._drained_at: float | None = None  # when a claim last found the queue empty
        self._flow: InFlight[Delivery, AttemptResult] = InFlight()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then finish the sends under way (or give back those ``interrupt`` cut).

        Database outages make it back off, not die.

        Up to ``batch_size`` sends are in flight or finished but not yet recorded; finished ones are
        recorded together as they come in, and more deliveries are claimed whenever fewer than half
        a batch is left, so a slow target delays only its own deliveries.
        """
        flow = self._flow = InFlight()
        backoff = self._settings.poll_interval
        while not (stop.is_set() and flow.idle):
            try:
                await self._record_finished(flow)
                await self._release(flow.take_interrupted(), INTERRUPTED)
                claimed = await self._refill(flow, stop)
                backoff = self._settings.poll_interval
            except Unavailable as error:
                if stop.is_set():  # stopping with the database gone: the leases expire, nothing is lost
                    flow.abandon()
                    return
                log.warning("worker.database_unavailable", retry_in=backoff, detail=error.detail)
                await _wait(stop, backoff)
                backoff = min(backoff * 2, self._settings.max_backoff)
                continue
            await self._pause(flow, stop, claimed)

    def interrupt(self) -> None:
        """Cut the sends under way short; ``run`` gives their leases back (once ``stop`` is set too)."""
        self._flow.interrupt()

    async def _record_finished(self, flow: InFlight[Delivery, AttemptResult]) -> None:
        results = flow.take()
        if not results:
            return
        try:
            await self._record(results)
        except Unavailable:
            flow.give_back(results)  # sent but not recorded: try again once the database is back
            raise

    async def _refill(self, flow: InFlight[Delivery, AttemptResult], stop: asyncio.Event) -> int | None:
        """Claim more once fewer than half a batch is in flight; the number claimed, or None if not tried."""
        # Finished but unrecorded sends count too: a crash re-sends at most one batch.
        room = self._settings.batch_size - len(flow.tasks) - len(flow.finished)
        if stop.is_set() or room < self._settings.batch_size / 2 or not self._may_have_work():
            return None
        self._context.database.deliveries_enqueued.clear()  # enqueues from now on wake us again
        claimed = await self._claim(room)
        if stop.is_set():  # asked to stop during the claim: give them back now rather than after the lease
            await self._release([delivery for delivery, _ in claimed], None)
            return 0
        for delivery, router in claimed:
            flow.start(self._attempt(delivery, router), delivery)
        self._drained_at = time.monotonic() if len(claimed) < room else None
        return len(claimed)

    def _may_have_work(self) -> bool:
        # After a claim that emptied the queue, ask again only when woken or when the poll interval is up.
        if self._drained_at is None or self._context.database.deliveries_enqueued.is_set():
            return True
        return time.monotonic() - self._drained_at >= self._settings.poll_interval

    async def _pause(self, flow: InFlight[Delivery, AttemptResult], stop: asyncio.Event, claimed: int | None) -> None:
        if flow.tasks:
            await flow.wait_for_change(self._settings.poll_interval)  # a finished send is the next thing to handle
        elif not claimed and not flow.finished:
            await self._wait_for_work(stop)

    async def _wait_for_work(self, stop: asyncio.Event) -> None:
        signal = self._context.database.deliveries_enqueued
        waiters = [asyncio.ensure_future(signal.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waiters, timeout=self._settings.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()

    async def run_once(self) -> int:
        """Claim one batch, send it concurrently, record every outcome in one transaction."""
        claimed = await self._claim(self._settings.batch_size)
        if not claimed:
            return 0
        results = await asyncio.gather(*(self._attempt(delivery, router) for delivery, router in claimed))
        await self._record(results)
        return len(claimed)

    async def _claim(self, limit: int) -> list[tuple[Delivery, Router]]:
        async def claim(conn: Connection) -> list[Delivery]:
            return await store.claim_due(conn, self._now(), self._settings.lease, limit)

        claimed = await self._context.database.write(claim)
        # One routing-version read per instance and claim, not per delivery.
        routers = {iid: await self._context.routers.router_for(iid) for iid in {d.instance_id for d in claimed}}
        return [(delivery, routers[delivery.instance_id]) for delivery in claimed]

    async def _release(self, held: list[Delivery], note: str | None) -> None:
        """Make leased deliveries pending again, due now, without counting an attempt."""
        if not held:
            return

        async def release(conn: Connection) -> None:
            await store.release(conn, held, self._now(), note)

        await self._context.database.write(release)
        self.stats.released += len(held)

    def _now(self) -> datetime:
        return self._context.clock.now()

    def _attempt(self, delivery: Delivery, router: Router) -> Coroutine[Any, Any, AttemptResult]:
        # A plain function, so that tracing off adds no await layer to a delivery.
        if TRACING.otel is None:
            return self._deliver(delivery, router)
        return self._traced_deliver(delivery, router)

    async def _traced_deliver(self, delivery: Delivery, router: Router) -> AttemptResult:
        assert TRACING.otel is not None  # only chosen while tracing is on
        span = TRACING.otel.delivery_attempt(_span_attributes(delivery), delivery.trace)
        failure: str | None = "error"
        try:
            result = await self._deliver(delivery, router)
            span.span.set_attribute("callout.delivery.outcome", result.verdict.value)
            if result.attempt.status is not None:
                span.span.set_attribute("http.response.status_code", result.attempt.status)
            failure = None if result.verdict is Verdict.SUCCEEDED else result.verdict.value
            return result
        finally:
            span.end(failure)

    async def _deliver(self, delivery: Delivery, router: Router) -> AttemptResult:
        started = self._now()
        clock = time.perf_counter()
        try:
            routed, web_key = await self._target(delivery, router)
            if routed is None:
                return self._result(delivery, started, clock, None, "the target no longer exists", Verdict.FAILED)
            response = await self._context.chains.send(
                routed, delivery.payload, web_key, webhook_id=delivery.webhook_id, trace=delivery.trace
            )
        except DeliveryError as error:
            return self._result(delivery, started, clock, None, f"{error.reason}: {error}"[:500], Verdict.RETRY)
        except CalloutError as error:  # a missing key: it may be added, so try again later
            return self._result(delivery, started, clock, None, error.message[:500], Verdict.RETRY)
        verdict = classify(response.status)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), started)
        problem = None if verdict is Verdict.SUCCEEDED else f"HTTP {response.status}"
        return self._result(delivery, started, clock, response, problem, verdict, retry_after)

    def _result(
        self,
        delivery: Delivery,
        started: datetime,
        clock: float,
        response: OutboundResponse | None,
        error: str | None,
        verdict: Verdict,
        retry_after: timedelta | None = None,
    ) -> AttemptResult:
        latency = timedelta(seconds=time.perf_counter() - clock)
        self.stats.observe(latency.total_seconds())
        status = None if response is None else response.status
        attempt = Attempt(delivery.id, 0, started, latency, status, error, response_head(response))
        return AttemptResult(delivery, attempt, verdict, retry_after)

    async def _target(self, delivery: Delivery, router: Router) -> tuple[RoutedTarget | None, WebKey | None]:
        routed = router.target(delivery.target_id) or await load_routed_target(
            self._context, delivery.instance_id, delivery.target_id
        )
        web_key = router.web_key
        if routed is not None and web_key is None and routed.target.payload_type in SIGNED_PAYLOADS:
            await ensure_web_key(self._context, delivery.instance_id)
            web_key = (await self._context.routers.router_for(delivery.instance_id)).web_key
        return routed, web_key

    async def _record(self, results: list[AttemptResult]) -> None:
        async def record(conn: Connection) -> list[store.Outcome]:
            numbers = await store.last_attempt_numbers(conn, _redelivered(results))
            outcomes = []
            for result in results:
                attempt = replace(result.attempt, number=numbers.get(result.delivery.id, result.delivery.attempts) + 1)
                state, due = self._next_state(result)
                outcomes.append(store.Outcome(result.delivery, attempt, state, due))
            await store.record_outcomes(conn, outcomes)
            return outcomes

        for outcome in await self._context.database.write(record):  # counted once, whatever the retries
            self.stats.outcomes[outcome.state.value] += 1
            self.stats.retries += outcome.state is DeliveryState.PENDING

    def _next_state(self, result: AttemptResult) -> tuple[DeliveryState, datetime | None]:
        if result.verdict is Verdict.SUCCEEDED:
            return DeliveryState.SUCCEEDED, None
        if result.verdict is Verdict.FAILED:
            return DeliveryState.FAILED, None
        delivery = result.delivery
        due = self._settings.policy.next_attempt(
            delivery.attempts + 1, delivery.round_started_at, self._now(), result.retry_after
        )
        if due is None:
            return DeliveryState.FAILED, None
        return DeliveryState.PENDING, due


def _span_attributes(delivery: Delivery) -> dict[str, str | int]:
    """What a delivery attempt's span says: ids and the attempt's number in its round, never the payload."""
    attributes: dict[str, str | int] = {
        "callout.delivery.id": delivery.id,
        "callout.delivery.attempt": delivery.attempts + 1,
        "callout.target.id": delivery.target_id,
        "callout.execution.id": delivery.execution_id,
    }
    if delivery.event_id is not None:
        attributes["callout.event.id"] = delivery.event_id
    return attributes


def response_head(response: OutboundResponse | None) -> str | None:
    """The status line, headers and first bytes of a target's answer, as the attempt log keeps them."""
    if response is None:
        return None
    headers = "".join(f"{name}: {value}\n" for name, value in list(response.headers.items())[:30])
    body = response.body[:RESPONSE_HEAD_BYTES].decode("utf-8", "replace")
    # PostgreSQL text refuses NUL: one in a target's answer must not fail the batch's record.
    return f"HTTP {response.status}\n{headers}\n{body}"[: 4 * RESPONSE_HEAD_BYTES].replace("\x00", "\ufffd")


def _redelivered(results: list[AttemptResult]) -> list[str]:
    """Deliveries given a new round: their attempt log runs on past ``attempts``, so it is looked up.

    Any other delivery has logged exactly ``attempts`` attempts: each one is logged in the
    transaction that counts it.
    """
    return [r.delivery.id for r in results if r.delivery.round_started_at != r.delivery.created_at]


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
