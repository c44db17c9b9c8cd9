"""Durable delivery on SQLite and PostgreSQL: events enqueue in their transaction, workers deliver at least once.

Real receivers on 127.0.0.1 (``callout.testing.RecordingReceiver``), a real sender in development mode.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.deliveries import DeliveryQuery, DeliveryState
from callout.domain.egress import EgressPolicy
from callout.domain.executions import Condition, ConditionType
from callout.domain.retry import RetryPolicy
from callout.domain.targets import TargetSpec, TargetType
from callout.errors import AlreadyExists
from callout.services import deliveries as delivery_service
from callout.services import executions as execution_service
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.services.worker import DeliveryWorker, WorkerSettings
from callout.storage import deliveries as store
from callout.testing import RecordingReceiver
from tests.conftest import MakePrincipal

FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=timedelta(milliseconds=1), max_delay=timedelta(milliseconds=5))


@dataclass
class Setup:
    """A dev-mode context, an owner, and helpers to bind a receiver to target events."""

    context: ServiceContext
    principal: Principal

    async def bind_events(self, receiver: RecordingReceiver, group: str = "target") -> str:
        """Create a webhook target at the receiver and bind it to an event group; returns the target id."""
        spec = TargetSpec(f"hook-{receiver.port}", TargetType.WEBHOOK, False, timedelta(seconds=2), receiver.url)
        target, _ = await target_service.create_target(self.context, self.principal, spec)
        await execution_service.set_execution(
            self.context, self.principal, Condition(ConditionType.EVENT, group=group), [target.id]
        )
        return target.id

    async def emit(self, count: int = 1, prefix: str = "other") -> None:
        """Write ``count`` target.added events (by creating targets ``<prefix>-<n>`` nobody calls)."""
        for index in range(count):
            name = f"{prefix}-{index}"
            spec = TargetSpec(name, TargetType.WEBHOOK, False, timedelta(seconds=1), "https://example.com")
            await target_service.create_target(self.context, self.principal, spec)

    def worker(self, policy: RetryPolicy = FAST_RETRIES, lease: timedelta = timedelta(seconds=30)) -> DeliveryWorker:
        """A worker with a fast retry schedule."""
        return DeliveryWorker(self.context, WorkerSettings(policy=policy, lease=lease, poll_interval=0.05))

    async def drain(self, worker: DeliveryWorker, rounds: int = 50) -> None:
        """Run the worker until nothing is due (retries included)."""
        for _ in range(rounds):
            if not await worker.run_once():
                await asyncio.sleep(0.02)
                if not await worker.run_once():
                    return

    async def states(self) -> list[DeliveryState]:
        """The states of every delivery of the instance, oldest first."""
        query = DeliveryQuery()
        page = await delivery_service.list_deliveries(
            self.context, self.principal, replace(query, pagination=replace(query.pagination, asc=True))
        )
        return [delivery.state for delivery in page.items]


@pytest.fixture
async def setup(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Setup]:
    """A development-mode context (loopback targets allowed) with an IAM_OWNER."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    dev = replace(context, egress=policy, sender=sender)
    principal, _ = await make_principal(Role.IAM_OWNER)
    yield Setup(dev, principal)
    await sender.close()


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A recording receiver on 127.0.0.1."""
    with RecordingReceiver() as running:
        yield running


class TestEnqueue:
    async def test_event_enqueues_one_delivery_per_matching_target(
        self, setup: Setup, receiver: RecordingReceiver
    ) -> None:
        """Each event of a bound group is queued once for the bound target, pending until a worker runs."""
        await setup.bind_events(receiver)
        await setup.emit(3)
        assert await setup.states() == [DeliveryState.PENDING] * 3

    async def test_rolled_back_event_enqueues_nothing(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """A change that fails (duplicate name) leaves neither an event nor a delivery."""
        await setup.bind_events(receiver)
        await setup.emit(1)
        with pytest.raises(AlreadyExists):
            await setup.emit(1)
        assert len(await setup.states()) == 1

    async def test_unbound_event_type_enqueues_nothing(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """Events of a group without an execution are not queued."""
        await setup.bind_events(receiver, group="execution")
        before = len(await setup.states())
        await setup.emit(2)
        assert len(await setup.states()) == before


class TestWorker:
    async def test_delivers_the_event_payload_with_stable_ids(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """The receiver gets the event body with webhook-id msg_<delivery id> and a valid signature."""
        await setup.bind_events(receiver)
        await setup.emit(1)
        await setup.drain(setup.worker())
        request = receiver.requests[-1]
        page = await delivery_service.list_deliveries(setup.context, setup.principal, DeliveryQuery())
        assert (json.loads(request.body)["event_type"], request.header("webhook-id")) == (
            "target.added",
            f"msg_{page.items[0].id}",
        )
        assert page.items[0].state is DeliveryState.SUCCEEDED

    async def test_server_error_is_retried_with_the_same_webhook_id(
        self, setup: Setup, receiver: RecordingReceiver
    ) -> None:
        """A 503 is retried until the attempts run out, always with the same webhook-id."""
        await setup.bind_events(receiver)
        receiver.respond(status=503)
        await setup.emit(1)
        await setup.drain(setup.worker())
        ids = {request.header("webhook-id") for request in receiver.requests}
        assert (len(receiver.requests), len(ids), await setup.states()) == (3, 1, [DeliveryState.FAILED])

    async def test_client_error_fails_at_once(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """A 400 is not retried."""
        await setup.bind_events(receiver)
        receiver.respond(status=400)
        await setup.emit(1)
        await setup.drain(setup.worker())
        assert (len(receiver.requests), await setup.states()) == (1, [DeliveryState.FAILED])

    async def test_target_coming_back_gets_the_delivery(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """After a 500 the next attempt succeeds once the target recovers."""
        await setup.bind_events(receiver)
        receiver.respond(status=500)
        await setup.emit(1)
        worker = setup.worker(
            RetryPolicy(max_attempts=5, base_delay=timedelta(milliseconds=1), max_delay=timedelta(milliseconds=2))
        )
        await worker.run_once()
        receiver.respond(status=200)
        await setup.drain(worker)
        assert (len(receiver.requests), await setup.states()) == (2, [DeliveryState.SUCCEEDED])

    async def test_retry_after_is_honoured(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """A 429 with Retry-After: 30 is not due again before 30 seconds."""
        await setup.bind_events(receiver)
        receiver.respond(status=429, headers={"Retry-After": "30"})
        await setup.emit(1)
        await setup.worker().run_once()
        page = await delivery_service.list_deliveries(setup.context, setup.principal, DeliveryQuery())
        delivery = page.items[0]
        assert delivery.state is DeliveryState.PENDING
        assert delivery.next_attempt_at - delivery.updated_at >= timedelta(seconds=29)

    async def test_every_attempt_is_logged(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """GetDelivery returns each attempt with its status, latency and response head."""
        await setup.bind_events(receiver)
        receiver.respond(status=500, json={"problem": "down"})
        await setup.emit(1)
        await setup.drain(setup.worker())
        page = await delivery_service.list_deliveries(setup.context, setup.principal, DeliveryQuery())
        _, attempts = await delivery_service.get_delivery(setup.context, setup.principal, page.items[0].id)
        assert [(a.number, a.status) for a in attempts] == [(1, 500), (2, 500), (3, 500)]
        assert "down" in (attempts[0].response_head or "")

    async def test_expired_lease_makes_the_delivery_due_again(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """A delivery claimed by a worker that died is claimed again after its lease ends."""
        await setup.bind_events(receiver)
        await setup.emit(1)
        async with setup.context.database.transaction() as conn:
            claimed = await store.claim_due(conn, setup.context.clock.now(), timedelta(milliseconds=50), 10)
        await asyncio.sleep(0.1)
        await setup.drain(setup.worker())
        assert (len(claimed), len(receiver.requests), await setup.states()) == (1, 1, [DeliveryState.SUCCEEDED])

    async def test_live_lease_is_not_claimed_twice(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """While a lease holds no other claim takes the delivery."""
        await setup.bind_events(receiver)
        await setup.emit(1)
        now = setup.context.clock.now()
        async with setup.context.database.transaction() as conn:
            first = await store.claim_due(conn, now, timedelta(seconds=30), 10)
        async with setup.context.database.transaction() as conn:
            second = await store.claim_due(conn, now, timedelta(seconds=30), 10)
        assert (len(first), second) == (1, [])

    async def test_concurrent_workers_deliver_each_event_once(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """Three workers draining 30 events together deliver every event exactly once."""
        await setup.bind_events(receiver)
        await setup.emit(30)
        workers = [setup.worker() for _ in range(3)]
        await asyncio.gather(*(setup.drain(worker) for worker in workers))
        ids = [request.header("webhook-id") for request in receiver.requests]
        assert (len(ids), len(set(ids))) == (30, 30)


class TestContinuousWorker:
    async def test_slow_target_does_not_hold_back_other_deliveries(self, setup: Setup) -> None:
        """While one target takes seconds to answer, deliveries enqueued later to another target arrive at once."""
        with RecordingReceiver() as slow, RecordingReceiver() as fast:
            # The slow answer takes far longer than the wait below: no margin depends on the machine's load.
            slow.respond(delay=60.0)
            targets = []
            for receiver in (slow, fast):
                spec = TargetSpec(
                    f"hook-{receiver.port}", TargetType.WEBHOOK, False, timedelta(seconds=120), receiver.url
                )
                targets.append((await target_service.create_target(setup.context, setup.principal, spec))[0].id)
            condition = Condition(ConditionType.EVENT, group="target")
            await execution_service.set_execution(setup.context, setup.principal, condition, targets)
            stop = asyncio.Event()
            running = asyncio.create_task(setup.worker().run(stop))
            await setup.emit(1)
            await _until(lambda: len(fast.requests) == 1 and len(slow.requests) == 1)
            await setup.emit(5, prefix="later")  # the first slow delivery is still waiting for its answer
            # Everything arrives well before the first slow answer is due (60 s): nothing waited for it.
            await _until(lambda: len(fast.requests) == 6 and len(slow.requests) == 6, seconds=30.0)
            slow.close()  # cuts the waiting answers short, so stopping does not wait a minute
            stop.set()
            await running

    async def test_stop_waits_for_sends_under_way_and_records_them(
        self, setup: Setup, receiver: RecordingReceiver
    ) -> None:
        """Stopping a worker lets the sends under way finish and records them as succeeded."""
        await setup.bind_events(receiver)
        receiver.respond(delay=0.5)
        stop = asyncio.Event()
        running = asyncio.create_task(setup.worker().run(stop))
        await setup.emit(3)
        await _until(lambda: len(receiver.requests) == 3)
        stop.set()
        await running
        assert await setup.states() == [DeliveryState.SUCCEEDED] * 3


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until ``condition`` holds; fail after ``seconds``."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - the receiver runs in its own thread: nothing to await
            await asyncio.sleep(0.01)


async def _failed_delivery(setup: Setup, receiver: RecordingReceiver) -> tuple[DeliveryWorker, str]:
    """One event delivered to a receiver answering 400, so its delivery failed; the worker and its id."""
    await setup.bind_events(receiver)
    receiver.respond(status=400)
    await setup.emit(1)
    worker = setup.worker()
    await setup.drain(worker)
    page = await delivery_service.list_deliveries(setup.context, setup.principal, DeliveryQuery())
    return worker, page.items[0].id


class TestRedelivery:
    async def test_failed_delivery_can_be_redelivered(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """Redelivering a failed delivery sends it again with the same webhook-id."""
        worker, delivery_id = await _failed_delivery(setup, receiver)
        receiver.respond(status=200)
        await delivery_service.redeliver(setup.context, setup.principal, delivery_id)
        await setup.drain(worker)
        ids = [request.header("webhook-id") for request in receiver.requests]
        assert (len(ids), len(set(ids)), await setup.states()) == (2, 1, [DeliveryState.SUCCEEDED])

    async def test_attempt_numbers_continue_after_a_redelivery(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """The attempt log of a redelivered delivery goes on numbering where the first round stopped."""
        worker, delivery_id = await _failed_delivery(setup, receiver)
        for _ in range(2):
            await delivery_service.redeliver(setup.context, setup.principal, delivery_id)
            await setup.drain(worker)
        _, attempts = await delivery_service.get_delivery(setup.context, setup.principal, delivery_id)
        assert [attempt.number for attempt in attempts] == [1, 2, 3]

    async def test_redeliver_failed_counts_and_requeues(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """RedeliverFailed queues every failed delivery since a time and reports progress."""
        await setup.bind_events(receiver)
        receiver.respond(status=404)
        await setup.emit(4)
        await setup.drain(setup.worker())
        seen: list[int] = []
        count = await delivery_service.redeliver_failed(
            setup.context, setup.principal, setup.context.clock.now() - timedelta(hours=1), seen.append
        )
        assert (count, seen[-1], await setup.states()) == (4, 4, [DeliveryState.PENDING] * 4)
