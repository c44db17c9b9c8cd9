"""A WSGI host app (the Flask or the Django example) under werkzeug's threaded server, in front of ``callout serve``.

Each host gets a fresh instance of the server, its own token, and a TCP proxy between its
DispatchClient and callout that a test can cut; callout calls aiohttp receivers on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from werkzeug.serving import make_server

from callout.delivery.dispatch_client import DispatchClient
from callout.integrations.wsgi import CalloutWSGIMiddleware
from callout.integrations.wsgi_response import WSGIApp
from tests.delivery_receivers import Receiver, ReceiverFactory
from tests.dispatch_support import Actions, actions_client
from tests.e2e.conftest import Server
from tests.tcp_proxy import TcpProxy

# The example's WSGI entry point and its middleware, for a client and the middleware's options.
BuildApp = Callable[..., tuple[WSGIApp, CalloutWSGIMiddleware]]


@dataclass
class WSGIHost:
    """The example app of one fresh instance behind a WSGI server, its middleware, the Action API, the proxy."""

    http: httpx.AsyncClient
    middleware: CalloutWSGIMiddleware
    actions: Actions
    receivers: ReceiverFactory
    proxy: TcpProxy

    async def hook(self, condition: dict[str, Any], *replies: Any, interrupt: bool = True) -> list[Receiver]:
        """Receivers answering with ``replies``, bound in order as the targets of ``condition``."""
        receivers = [await self.receivers.start(reply) for reply in replies]
        targets = [await self.actions.target(receiver, interrupt=interrupt) for receiver in receivers]
        await self.actions.bind(condition, targets)
        await self.refresh()
        return receivers

    async def refresh(self) -> None:
        """Let the middleware's snapshot see the latest executions at once."""
        await asyncio.to_thread(self.middleware.refresh_routing)

    def calls_avoided(self) -> int:
        """The client's count of requests that made no Dispatch call."""
        return int(self.middleware.client.stats.calls_avoided)  # type: ignore[attr-defined]


MakeHost = Callable[..., Awaitable[WSGIHost]]


@asynccontextmanager
async def wsgi_hosts(server: Server, build_app: BuildApp) -> AsyncIterator[MakeHost]:
    """Factory of hosts built by ``build_app`` for new instances of ``server``; all are closed on exit."""
    closers: list[Callable[[], Awaitable[None]]] = []
    async with ReceiverFactory() as receivers:

        async def make(**options: Any) -> WSGIHost:
            host, close = await _start_host(server, build_app, receivers, options)
            closers.append(close)
            return host

        try:
            yield make
        finally:
            for close in closers:
                await close()


async def _start_host(
    server: Server, build_app: BuildApp, receivers: ReceiverFactory, options: dict[str, Any]
) -> tuple[WSGIHost, Callable[[], Awaitable[None]]]:
    instance_id = await asyncio.to_thread(server.create_instance)
    token, _ = await asyncio.to_thread(server.create_token, instance_id)
    proxy = await TcpProxy("127.0.0.1", server.port).start()
    app, middleware = build_app(DispatchClient(f"http://127.0.0.1:{proxy.port}", token, timeout_seconds=5), **options)
    await asyncio.to_thread(middleware.ensure_registered)
    wsgi_server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=wsgi_server.serve_forever, daemon=True).start()
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{wsgi_server.server_port}", timeout=10, trust_env=False)
    actions = actions_client(server.base_url, token)

    async def close() -> None:
        await asyncio.to_thread(wsgi_server.shutdown)
        await asyncio.to_thread(middleware.close)
        for closer in (http.aclose, actions.http.aclose, proxy.close):
            await closer()

    return WSGIHost(http, middleware, actions, receivers, proxy), close
