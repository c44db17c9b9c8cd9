"""An in-process callout for the hostile-target tests, and helpers to bind a receiver and read errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx

from callout.api.app import create_app
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.egress import EgressPolicy
from callout.services.context import ServiceContext
from tests.conftest import MakePrincipal
from tests.delivery_receivers import ReceiverFactory, Reply
from tests.integration.engine_support import Engine

DISPATCH = "/callout.v1.DispatchService"


@asynccontextmanager
async def running_engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Engine]:
    """An IAM_OWNER's in-process callout in development mode (loopback targets allowed)."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    app = create_app(replace(context, egress=policy, sender=sender))
    principal, token = await make_principal(Role.IAM_OWNER)
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with (
        ReceiverFactory() as receivers,
        httpx.AsyncClient(transport=transport, base_url="http://callout.test", headers=headers) as client,
    ):
        yield Engine(app.state.api.context, client, receivers, principal)
        await app.state.api.context.chains.drain()
    await sender.close()


async def bind_target(
    engine: Engine, condition: dict[str, Any], reply: Reply, *, interrupt: bool = True, target_timeout: str = "5s"
) -> str:
    """Bind one rest_call target answering ``reply`` as the only target of ``condition``; return its id."""
    target = await engine.target(await engine.receivers.start(reply), interrupt=interrupt, timeout=target_timeout)
    await engine.bind(condition, [target])
    return target


async def dispatch(engine: Engine, rpc: str, body: dict[str, Any]) -> httpx.Response:
    """Call a DispatchService RPC over Connect with the engine's owner token."""
    return await engine.client.post(f"{DISPATCH}/{rpc}", json=body)


def error_id(response: httpx.Response) -> str:
    """The message id of an error answer."""
    return str(response.json()["details"][0]["debug"]["id"])
