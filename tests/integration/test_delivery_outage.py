"""Database outages: delivery workers back off while PostgreSQL is unreachable and resume without loss.

PostgreSQL only: the database is reached through a real TCP proxy (``tests.tcp_proxy``) that is cut and
restored, which resets every open connection and refuses new ones. SQLite is embedded in the process
and cannot go away on its own, so there is no SQLite variant. Never skipped under ``CI=true`` (the
``postgres_ready`` fixture fails the run instead). Receivers are real (``callout.testing.RecordingReceiver``
on 127.0.0.1) and the sender runs in development mode so loopback targets are allowed.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url

from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.deliveries import Delivery, DeliveryQuery, DeliveryState
from callout.domain.egress import EgressPolicy
from callout.domain.executions import Condition, ConditionType
from callout.domain.retry import RetryPolicy
from callout.domain.targets import TargetSpec, TargetType
from callout.errors import Unavailable
from callout.services import deliveries as delivery_service
from callout.services import executions as execution_service
from callout.services import instances as admin
from callout.services import targets as target_service
from callout.services.auth import authenticate
from callout.services.context import ServiceContext
from callout.services.secrets import SecretBox
from callout.services.worker import DeliveryWorker, WorkerSettings
from callout.storage.database import Database
from callout.storage.migrations import upgrade_to_head
from callout.testing import RecordingReceiver, Reply
from tests.conftest import POSTGRES_URL
from tests.tcp_proxy import TcpProxy

OUTAGE = 2.0  # seconds the database stays unreachable
DEADLINE = 30.0  # seconds to wait for every delivery once it is back
RETRIES = RetryPolicy(max_attempts=20, base_delay=timedelta(milliseconds=50), max_delay=timedelta(milliseconds=200))
SETTINGS = WorkerSettings(
    policy=RETRIES, batch_size=5, lease=timedelta(seconds=1.5), poll_interval=0.05, max_backoff=0.5
)


@dataclass
class Outage:
    """Services on a PostgreSQL schema reached through a proxy, an owner, and helpers for delivery tests."""

    context: ServiceContext
    principal: Principal
    proxy: TcpProxy

    async def bind_events(self, receiver: RecordingReceiver) -> None:
        """Create a webhook target at the receiver and bind it to the event group "target"."""
        spec = TargetSpec(f"hook-{receiver.port}", TargetType.WEBHOOK, False, timedelta(seconds=2), receiver.url)
        target, _ = await target_service.create_target(self.context, self.principal, spec)
        condition = Condition(ConditionType.EVENT, group="target")
        await execution_service.set_execution(self.context, self.principal, condition, [target.id])

    async def emit(self, *names: str) -> None:
        """Write one target.added event per name (by creating targets nobody calls)."""
        for name in names:
            spec = TargetSpec(name, TargetType.WEBHOOK, False, timedelta(seconds=1), "https://example.com")
            await target_service.create_target(self.context, self.principal, spec)

    async def deliveries(self) -> list[Delivery]:
        """Every delivery of the instance."""
        query = DeliveryQuery()
        query = replace(query, pagination=replace(query.pagination, limit=1000))
        page = await delivery_service.list_deliveries(self.context, self.principal, query)
        return list(page.items)


def _names(prefix: str, count: int) -> list[str]:
    """Distinct target names, so each emit writes new events."""
    return [f"{prefix}-{index}" for index in range(count)]


def _webhook_ids(receiver: RecordingReceiver) -> set[str | None]:
    """The distinct webhook-ids the receiver has seen (duplicates are fine: delivery is at least once)."""
    return {request.header("webhook-id") for request in receiver.requests}


async def _until_delivered(outage: Outage, receiver: RecordingReceiver, worker: asyncio.Task[None]) -> None:
    """Wait (bounded) until every delivery reached the receiver and is recorded as succeeded."""
    deadline = asyncio.get_running_loop().time() + DEADLINE
    while not await _all_delivered(outage, receiver):
        _assert_alive(worker)
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not every delivery arrived and succeeded within {DEADLINE}s")
        await asyncio.sleep(0.05)


async def _all_delivered(outage: Outage, receiver: RecordingReceiver) -> bool:
    """Whether the receiver has seen every stored delivery and each is recorded as succeeded."""
    deliveries = await outage.deliveries()
    received = _webhook_ids(receiver) >= {delivery.webhook_id for delivery in deliveries}
    return received and all(delivery.state is DeliveryState.SUCCEEDED for delivery in deliveries)


def _assert_alive(worker: asyncio.Task[None]) -> None:
    """Fail with whatever ended the worker task if it is no longer running."""
    if worker.done():
        worker.result()  # raises what killed the worker
        pytest.fail("the worker stopped on its own")


@pytest.fixture
def postgres_schema(postgres_ready: bool) -> Iterator[str]:
    """A fresh PostgreSQL schema, dropped afterwards."""
    if not postgres_ready:
        pytest.skip("PostgreSQL is not reachable")
    libpq = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield schema
    with psycopg.connect(libpq, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
async def outage(postgres_schema: str) -> AsyncIterator[Outage]:
    """A migrated schema reached through a proxy, dev-mode services on it, and an IAM_OWNER."""
    upstream = make_url(POSTGRES_URL)
    async with TcpProxy(upstream.host or "127.0.0.1", upstream.port or 5432) as proxy:
        proxied = upstream.set(host="127.0.0.1", port=proxy.port).update_query_dict(
            {"options": f"-csearch_path={postgres_schema}"}
        )
        database = Database(proxied.render_as_string(hide_password=False))
        await upgrade_to_head(database)
        policy = EgressPolicy(dev_mode=True)
        resolver = StaticResolver()
        sender = AiohttpSender(policy, resolver)
        context = ServiceContext(
            database=database,
            secret_box=SecretBox(secrets.token_bytes(32)),
            egress=policy,
            resolver=resolver,
            sender=sender,
        )
        instance = await admin.create_instance(context, f"outage-{secrets.token_hex(3)}", with_web_key=False)
        _, token = await admin.create_token(context, instance.id, Role.IAM_OWNER)
        principal = await authenticate(context, f"Bearer {token}")
        yield Outage(context, principal, proxy)
        proxy.restore()
        await context.close()


@pytest.fixture
def receiver() -> Iterator[RecordingReceiver]:
    """A recording receiver on 127.0.0.1."""
    with RecordingReceiver() as running:
        yield running


@pytest.fixture
async def worker(outage: Outage) -> AsyncIterator[asyncio.Task[None]]:
    """A running delivery worker (lease 1.5 s, backoff up to 0.5 s), stopped cleanly afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(DeliveryWorker(outage.context, SETTINGS).run(stop))
    yield task
    stop.set()
    await asyncio.wait_for(task, timeout=10)


class TestDatabaseOutage:
    async def test_worker_survives_an_outage_mid_flight_and_delivers_everything(
        self, outage: Outage, receiver: RecordingReceiver, worker: asyncio.Task[None]
    ) -> None:
        """Cutting the database while sends are in flight pauses the worker, which then delivers all 30 events."""
        await outage.bind_events(receiver)
        cut = threading.Event()
        receiver.respond_with(lambda _request: Reply() if cut.wait(timeout=5) else Reply(status=504))  # hold until cut
        await outage.emit(*_names("event", 30))
        expected = {delivery.webhook_id for delivery in await outage.deliveries()}
        await receiver.wait_for_async(1, timeout=10)  # the first sends are in flight, held by the receiver
        await outage.proxy.cut()
        cut.set()
        await asyncio.sleep(OUTAGE)
        _assert_alive(worker)
        outage.proxy.restore()
        await _until_delivered(outage, receiver, worker)
        stored = {delivery.webhook_id for delivery in await outage.deliveries()}
        assert (len(expected), stored, _webhook_ids(receiver)) == (30, expected, expected)

    async def test_writes_during_an_outage_fail_cleanly_and_the_rest_is_delivered(
        self, outage: Outage, receiver: RecordingReceiver, worker: asyncio.Task[None]
    ) -> None:
        """An event written while the database is cut raises Unavailable and stores nothing; the others arrive."""
        await outage.bind_events(receiver)
        await outage.emit(*_names("before", 5))
        await _until_delivered(outage, receiver, worker)  # the worker is idle when the database goes away
        await outage.proxy.cut()
        with pytest.raises(Unavailable) as raised:
            await outage.emit("during")
        _assert_alive(worker)
        outage.proxy.restore()
        await outage.emit(*_names("after", 5), "during")  # "during" is free again: nothing of it was stored
        await _until_delivered(outage, receiver, worker)
        stored = {delivery.webhook_id for delivery in await outage.deliveries()}
        assert (raised.value.message_id, raised.value.kind.http_status) == ("Errors.Database.Unavailable", 503)
        assert (len(stored), _webhook_ids(receiver)) == (11, stored)
