"""Helpers for the Deliveries pages' HTTP tests: an instance with a receiver on 127.0.0.1, real deliveries.

Deliveries are made as in production: an event execution binds a webhook target at a
``RecordingReceiver``, events are pushed (``services.push``), and a real ``DeliveryWorker`` sends them.
The console runs in process on a development-mode context (loopback targets allowed).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from callout.api.app import create_app
from callout.console.app import mount_console
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.deliveries import DeliveryQuery, DeliveryState
from callout.domain.egress import EgressPolicy
from callout.domain.executions import Condition, ConditionType
from callout.domain.retry import RetryPolicy
from callout.domain.targets import TargetSpec, TargetType
from callout.services import deliveries as delivery_service
from callout.services import executions as execution_service
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.services.push import PushedEvent, push_events
from callout.services.worker import DeliveryWorker, WorkerSettings
from callout.testing import RecordingReceiver
from tests.conftest import MakePrincipal
from tests.integration.console_support import BASE_URL, sign_in

PAID, SHIPPED = "order.paid", "order.shipped"
FAST_RETRIES = RetryPolicy(max_attempts=2, base_delay=timedelta(milliseconds=1), max_delay=timedelta(milliseconds=5))
_ROW_IDS = re.compile(r'<tr data-id="([^"]+)"')


@dataclass
class Shop:
    """One instance seen through the console: its owner, a signed-in console client, and its receiver."""

    context: ServiceContext
    principal: Principal
    token: str
    client: httpx.AsyncClient
    receiver: RecordingReceiver
    csrf: str = ""

    async def bind(self, event_type: str = PAID, name: str | None = None) -> str:
        """Declare the event type and bind a new webhook target at the receiver to it; the target's id."""
        spec = TargetSpec(name or f"hook-{secrets.token_hex(3)}", TargetType.WEBHOOK, False, timedelta(seconds=2),
                          self.receiver.url)  # fmt: skip
        target, _ = await target_service.create_target(self.context, self.principal, spec)
        await execution_service.register_catalog(self.context, self.principal, [], [], [event_type])
        condition = Condition(ConditionType.EVENT, event=event_type)
        await execution_service.set_execution(self.context, self.principal, condition, [target.id])
        return target.id

    async def push(self, event_type: str = PAID, count: int = 1, payload: dict[str, Any] | None = None) -> None:
        """Push ``count`` events of a declared type in one transaction."""
        events = [PushedEvent("order", f"o-{n}", event_type, payload or {"total": n}) for n in range(count)]
        await push_events(self.context, self.principal, events)

    async def drain(self) -> None:
        """Run a worker with fast retries until nothing is due."""
        worker = DeliveryWorker(self.context, WorkerSettings(policy=FAST_RETRIES, poll_interval=0.05))
        for _ in range(50):
            if not await worker.run_once():
                await asyncio.sleep(0.02)
                if not await worker.run_once():
                    return

    async def deliveries(self, *states: DeliveryState) -> list[str]:
        """The ids of the instance's deliveries in the states (any state if none), newest first."""
        query = DeliveryQuery(states=states)
        page = await delivery_service.list_deliveries(self.context, self.principal, query)
        return [found.id for found in page.items]

    async def failed(self, count: int = 1) -> list[str]:
        """``count`` deliveries that failed for good (the receiver answers 400); their ids."""
        self.receiver.respond(status=400, json={"problem": "rejected"})
        await self.push(count=count)
        await self.drain()
        return await self.deliveries(DeliveryState.FAILED)

    async def page_ids(self, path: str) -> list[str]:
        """The delivery ids of the rows a console list page shows, in order."""
        page = await self.client.get(path)
        assert page.status_code == 200, page.text
        return _ROW_IDS.findall(page.text)


MakeShop = Callable[..., Awaitable[Shop]]


@pytest.fixture
async def dev_context(context: ServiceContext) -> AsyncIterator[ServiceContext]:
    """The test context in development mode, with a real sender that may call 127.0.0.1."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    yield replace(context, egress=policy, sender=sender)
    await sender.close()


@pytest.fixture
def receivers() -> Iterator[list[RecordingReceiver]]:
    """Receivers started by a test, stopped at its end."""
    running: list[RecordingReceiver] = []
    yield running
    for receiver in running:
        receiver.__exit__(None, None, None)


@pytest.fixture
async def make_shop(
    dev_context: ServiceContext, make_principal: MakePrincipal, receivers: list[RecordingReceiver]
) -> AsyncIterator[MakeShop]:
    """Factory: a signed-in console client for a role, in a new instance or a given one."""
    app = create_app(dev_context)
    mount_console(app, dev_context)
    clients: list[httpx.AsyncClient] = []

    async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> Shop:
        principal, token = await make_principal(role, instance_id)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)
        clients.append(client)
        receiver = RecordingReceiver().__enter__()
        receivers.append(receiver)
        shop = Shop(dev_context, principal, token, client, receiver)
        shop.csrf = await sign_in(client, token)
        return shop

    yield make
    for client in clients:
        await client.aclose()
