"""An in-process callout whose targets are real loopback receivers, for engine tests."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from callout.domain.auth import Principal
from callout.services.context import ServiceContext
from tests.delivery_receivers import Receiver, ReceiverFactory

ACTION = "/zitadel.action.v2.ActionService"


def answer(
    status: int = 200, body: Any = None, delay: float = 0.0
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A receiver reply: the status and JSON body (or none), optionally after a delay."""

    async def reply(_request: web.Request) -> web.StreamResponse:
        if delay:
            import asyncio

            await asyncio.sleep(delay)
        text = "" if body is None else json.dumps(body)
        return web.Response(status=status, text=text, content_type="application/json")

    return reply


@dataclass
class Engine:
    """A running app, its services, an owner's client and a receiver factory."""

    context: ServiceContext
    client: httpx.AsyncClient
    receivers: ReceiverFactory
    principal: Principal

    async def rpc(self, name: str, body: dict[str, Any]) -> httpx.Response:
        """Call an ActionService v2 RPC over Connect."""
        return await self.client.post(f"{ACTION}/{name}", json=body)

    async def target(self, receiver: Receiver, kind: str = "restCall", interrupt: bool = True, **extra: Any) -> str:
        """Create a target pointing at the receiver; returns its id."""
        flags = {} if kind == "restAsync" else {"interruptOnError": interrupt}
        body = {"name": f"t-{receiver.port}-{len(receiver.hits)}-{id(extra)}", kind: flags, "timeout": "5s"}
        response = await self.rpc("CreateTarget", {**body, "endpoint": receiver.url(), **extra})
        assert response.status_code == 200, response.text
        return str(response.json()["id"])

    async def bind(self, condition: dict[str, Any], targets: list[str]) -> None:
        """Set an execution."""
        response = await self.rpc("SetExecution", {"condition": condition, "targets": targets})
        assert response.status_code == 200, response.text

    async def drain(self) -> None:
        """Deliver queued rest_async calls with a worker, then wait for any background calls."""
        from callout.services.worker import DeliveryWorker

        worker = DeliveryWorker(self.context)
        while await worker.run_once():
            pass
        await self.context.chains.drain()
