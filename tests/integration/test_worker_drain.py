"""Draining a worker pool at shutdown (docs/shutdown.md), on SQLite and PostgreSQL, with a real slow receiver.

What is under way when the pool drains either finishes within the grace and is recorded, or is cut
short at its end and given back: pending, due now, no attempt counted, noted as interrupted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.deliveries import Delivery, DeliveryQuery, DeliveryState
from callout.domain.egress import EgressPolicy
from callout.services import deliveries as delivery_service
from callout.services.context import ServiceContext
from callout.services.worker import INTERRUPTED, WorkerSettings
from callout.services.workers import WorkerPool
from callout.storage import deliveries as store
from callout.testing import RecordingReceiver
from tests.conftest import MakePrincipal
from tests.integration.test_delivery_worker import Setup

# Leases far longer than a test: a delivery that stayed leased would not come back by itself.
SETTINGS = WorkerSettings(lease=timedelta(minutes=10), poll_interval=0.05)


@pytest.fixture
async def setup(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Setup]:
    """A development-mode context (loopback targets allowed) with an IAM_OWNER."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    principal, _ = await make_principal(Role.IAM_OWNER)
    yield Setup(replace(context, egress=policy, sender=sender), principal)
    await sender.close()


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A recording receiver on 127.0.0.1."""
    with RecordingReceiver() as running:
        yield running


async def deliveries(setup: Setup) -> list[Delivery]:
    """Every delivery of the instance."""
    page = await delivery_service.list_deliveries(setup.context, setup.principal, DeliveryQuery())
    return list(page.items)


async def sending(setup: Setup, receiver: RecordingReceiver, count: int, answer_after: float) -> WorkerPool:
    """A running one-worker pool with ``count`` deliveries under way to a receiver that answers late."""
    receiver.respond(delay=answer_after)
    await setup.bind_events(receiver)
    await setup.emit(count)
    pool = WorkerPool(setup.context, 1, SETTINGS, grace=60.0)
    pool.start()
    await receiver.wait_for_async(count)
    return pool


class TestDrain:
    async def test_sends_finishing_within_the_grace_are_recorded(
        self, setup: Setup, receiver: RecordingReceiver
    ) -> None:
        """Sends that answer before the grace ends are recorded as succeeded and counted as finished."""
        pool = await sending(setup, receiver, 3, answer_after=0.3)
        report = await pool.drain(grace=10.0)
        states = [d.state for d in await deliveries(setup)]
        assert ((report.finished, report.released), states) == ((3, 0), [DeliveryState.SUCCEEDED] * 3)

    async def test_sends_cut_at_the_grace_deadline_are_given_back(
        self, setup: Setup, receiver: RecordingReceiver
    ) -> None:
        """Sends still waiting at the deadline go back to pending, due now, without an attempt counted."""
        pool = await sending(setup, receiver, 3, answer_after=5.0)
        report = await pool.drain(grace=0.1)
        rows = {(d.state, d.attempts, d.lease_until, d.last_error) for d in await deliveries(setup)}
        assert ((report.finished, report.released), rows) == ((0, 3), {(DeliveryState.PENDING, 0, None, INTERRUPTED)})

    async def test_interrupt_cuts_a_long_grace_short(self, setup: Setup, receiver: RecordingReceiver) -> None:
        """``interrupt`` (a second signal) gives the sends under way back without waiting for the grace."""
        pool = await sending(setup, receiver, 2, answer_after=5.0)
        pool.request_stop(grace=60.0)
        pool.interrupt()
        report = await pool.stop()
        assert (report.finished, report.released) == (0, 2)

    async def test_released_deliveries_are_sent_again_by_the_next_pool(
        self, setup: Setup, receiver: RecordingReceiver
    ) -> None:
        """A pool started after a cut-short drain sends the given-back deliveries at once and records them."""
        first = await sending(setup, receiver, 2, answer_after=5.0)
        await first.drain(grace=0.05)
        receiver.respond()
        second = WorkerPool(setup.context, 1, SETTINGS)
        second.start()
        await receiver.wait_for_async(4)
        report = await second.drain(grace=5.0)
        states = [d.state for d in await deliveries(setup)]
        assert (report.finished, states) == (2, [DeliveryState.SUCCEEDED] * 2)

    async def test_pool_without_workers_drains_at_once(self, setup: Setup) -> None:
        """A pool of no workers (``serve --workers 0``) reports nothing finished and nothing released."""
        pool = WorkerPool(setup.context, 0, SETTINGS)
        pool.start()
        report = await pool.drain(grace=5.0)
        assert (report.finished, report.released) == (0, 0)


class TestRelease:
    async def test_a_lease_taken_over_by_another_worker_is_left_alone(
        self, setup: Setup, receiver: RecordingReceiver
    ) -> None:
        """Releasing with an old lease does not touch a delivery another worker has claimed since."""
        await setup.bind_events(receiver)
        await setup.emit(1)
        now = setup.context.clock.now()
        async with setup.context.database.transaction() as conn:
            [old] = await store.claim_due(conn, now, timedelta(seconds=1), 1)
        later = now + timedelta(seconds=2)
        async with setup.context.database.transaction() as conn:
            [current] = await store.claim_due(conn, later, timedelta(minutes=10), 1)
            await store.release(conn, [old], later, INTERRUPTED)
        [stored] = await deliveries(setup)
        assert (stored.state, stored.lease_until) == (DeliveryState.IN_FLIGHT, current.lease_until)
