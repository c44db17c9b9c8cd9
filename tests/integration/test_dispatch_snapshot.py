"""CalloutMiddleware with its routing snapshot: no Dispatch call where nothing applies, the failure policy.

A real in-process callout is served on a loopback port behind a counting ASGI wrapper and a TCP proxy
that can cut it off; the host app is driven through httpx's ASGI transport (docs/host-middleware.md).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from starlette.responses import PlainTextResponse

from callout.api.app import create_app
from callout.delivery.dispatch_client import DispatchClient
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Role
from callout.domain.egress import EgressPolicy
from callout.integrations.asgi import CalloutMiddleware
from callout.services.context import ServiceContext
from tests.conftest import MakePrincipal
from tests.delivery_receivers import ReceiverFactory
from tests.dispatch_support import Actions, actions_client, host_app, serve_on_loopback, unique_service
from tests.integration.engine_support import answer
from tests.tcp_proxy import TcpProxy

EXECUTION_RPCS = ("RunRequestExecution", "RunResponseExecution")


class CountingApp:
    """An ASGI wrapper counting the requests that reach callout, by the last segment of their path."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()
        self.without_routing = False  # answer GetRouting 404, as a callout older than it would

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            rpc = scope["path"].rsplit("/", 1)[-1]
            self.calls[rpc] += 1
            if rpc == "GetRouting" and self.without_routing:
                await PlainTextResponse("Not Found", status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def executions(self) -> int:
        """How many RunRequestExecution and RunResponseExecution calls reached callout."""
        return sum(self.calls[rpc] for rpc in EXECUTION_RPCS)


@dataclass
class Host:
    """A host app behind the middleware, its Dispatch client, callout's admin API, the proxy and counter."""

    http: httpx.AsyncClient
    client: DispatchClient
    actions: Actions
    receivers: ReceiverFactory
    proxy: TcpProxy
    counter: CountingApp
    service: str

    async def bind(self, kind: str, operation: str, reply: Any, *, interrupt: bool) -> None:
        """Bind a new rest_call target answering ``reply`` to the request/response execution of an operation."""
        method = f"/{self.service}/{operation}"
        await self.client.register_catalog(methods=[method])
        target = await self.actions.target(await self.receivers.start(reply), interrupt=interrupt)
        await self.actions.bind({kind: {"method": method}}, [target])

    async def first_snapshot(self) -> None:
        """Start the client's watch of the service and fetch its first snapshot now."""
        self.client.routing(self.service)
        await self.client.refresh_routing()


MakeHost = Callable[..., Awaitable[Host]]


@pytest.fixture
async def make_host(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[MakeHost]:
    """Factory: a host app whose Dispatch client reaches a development-mode callout through a proxy."""
    policy = EgressPolicy(dev_mode=True)
    sender = AiohttpSender(policy, StaticResolver())
    counter = CountingApp(create_app(replace(context, egress=policy, sender=sender)))
    closers: list[Callable[[], Awaitable[None]]] = []
    async with serve_on_loopback(counter) as base_url, ReceiverFactory() as receivers:
        port = int(base_url.rsplit(":", 1)[1])

        async def make(**options: Any) -> Host:
            _, token = await make_principal(Role.IAM_OWNER)
            proxy = await TcpProxy("127.0.0.1", port).start()
            client = DispatchClient(f"http://127.0.0.1:{proxy.port}", token, timeout_seconds=5)
            service = unique_service()
            app = CalloutMiddleware(host_app(), client=client, service=service, register=False, **options)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://host.test")
            actions = actions_client(base_url, token)
            closers.extend([client.close, http.aclose, actions.http.aclose, proxy.close])
            return Host(http, client, actions, receivers, proxy, counter, service)

        yield make
        for close in closers:
            await close()
        await counter.app.state.api.context.chains.drain()
    await sender.close()


class TestNothingBound:
    async def test_no_dispatch_call_reaches_callout(self, make_host: MakeHost) -> None:
        """With no execution bound, requests reach the app and no execution call reaches callout."""
        host = await make_host()
        await host.first_snapshot()
        before = host.counter.executions()
        statuses = [(await host.http.get("/users/1")).status_code for _ in range(5)]
        statuses.append((await host.http.post("/users", json={"name": "ada"})).status_code)
        assert (statuses, host.counter.executions() - before) == ([200] * 6, 0)

    async def test_avoided_calls_are_counted(self, make_host: MakeHost) -> None:
        """Each request that needed no Dispatch call adds one to ``stats.calls_avoided``."""
        host = await make_host()
        await host.first_snapshot()
        await host.http.get("/users/1")
        await host.http.get("/users/2")
        assert host.client.stats.calls_avoided == 2

    async def test_before_the_first_snapshot_callout_is_called(self, make_host: MakeHost) -> None:
        """A request before any snapshot arrived makes the Dispatch call, as without a snapshot."""
        host = await make_host()
        await host.http.post("/users", json={"name": "ada"})
        assert host.counter.calls["RunRequestExecution"] == 1

    async def test_only_the_bound_execution_is_called(self, make_host: MakeHost) -> None:
        """A method with only a response execution makes the RunResponseExecution call and no other."""
        host = await make_host()
        await host.first_snapshot()
        await host.bind("response", "GetUser", answer(200, {"user": {"id": "masked"}}), interrupt=True)
        await host.client.refresh_routing()
        response = await host.http.get("/users/1")
        calls = (host.counter.calls["RunRequestExecution"], host.counter.calls["RunResponseExecution"])
        assert (response.json(), calls) == ({"user": {"id": "masked"}}, (0, 1))

    async def test_callout_without_get_routing_is_called_as_before(self, make_host: MakeHost) -> None:
        """Against a callout that has no GetRouting every JSON request still runs its executions."""
        host = await make_host()
        host.counter.without_routing = True
        await host.first_snapshot()
        for _ in range(3):
            await host.http.post("/users", json={"name": "ada"})
        assert (host.client.routing(host.service), host.counter.calls["RunRequestExecution"]) == (None, 3)


class TestFreshness:
    async def test_new_execution_applies_without_a_refresh(self, make_host: MakeHost) -> None:
        """An execution bound after the snapshot was taken reaches the host through the long poll."""
        host = await make_host()
        await host.first_snapshot()
        await host.bind("request", "CreateUser", answer(200, {"name": "replaced"}), interrupt=True)
        seen: list[Any] = []
        for _ in range(100):  # up to 5 s; the poll answers within ~0.2 s of the change
            seen.append((await host.http.post("/users", json={"name": "ada"})).json()["user"])
            if seen[-1] == {"name": "replaced"}:
                break
            await asyncio.sleep(0.05)
        assert seen[-1] == {"name": "replaced"}

    async def test_refresh_applies_a_change_at_once(self, make_host: MakeHost) -> None:
        """After ``refresh_routing`` the very next request sees an execution just bound."""
        host = await make_host()
        await host.first_snapshot()
        await host.bind("request", "CreateUser", answer(200, {"name": "replaced"}), interrupt=True)
        await host.client.refresh_routing()
        assert (await host.http.post("/users", json={"name": "ada"})).json()["user"] == {"name": "replaced"}


async def cut_off(host: Host) -> None:
    """Bind an interrupting request execution to CreateUser and a non-interrupting one to GetUser, then cut."""
    await host.first_snapshot()
    await host.bind("request", "CreateUser", answer(200, {"name": "x"}), interrupt=True)
    await host.bind("response", "GetUser", answer(200, {"user": {"id": "masked"}}), interrupt=False)
    await host.client.refresh_routing()
    await host.proxy.cut()


class TestCalloutUnreachable:
    async def test_unmatched_route_answers_200(self, make_host: MakeHost) -> None:
        """A route no execution applies to is served while callout is cut off."""
        host = await make_host()
        await cut_off(host)
        assert (await host.http.get("/text")).status_code == 200

    async def test_interrupting_route_answers_503(self, make_host: MakeHost) -> None:
        """A route with an interrupting execution fails closed with 503 and a clear message."""
        host = await make_host()
        await cut_off(host)
        response = await host.http.post("/users", json={"name": "ada"})
        assert (response.status_code, response.json()["code"]) == (503, "unavailable")
        assert "unreachable" in response.json()["message"]

    async def test_non_interrupting_route_passes_and_is_counted(self, make_host: MakeHost) -> None:
        """A route with only a non-interrupting execution is served unchanged and the skip counted."""
        host = await make_host()
        await cut_off(host)
        response = await host.http.get("/users/1")
        assert (response.json(), host.client.stats.executions_skipped) == ({"user": {"id": "1"}}, 1)

    async def test_fail_closed_refuses_non_interrupting_route(self, make_host: MakeHost) -> None:
        """With ``on_unavailable="fail_closed"`` even a non-interrupting route answers 503."""
        host = await make_host(on_unavailable="fail_closed")
        await cut_off(host)
        assert (await host.http.get("/users/1")).status_code == 503

    async def test_fail_open_serves_interrupting_route(self, make_host: MakeHost) -> None:
        """With ``on_unavailable="fail_open"`` an interrupting route is served with the request unchanged."""
        host = await make_host(on_unavailable="fail_open")
        await cut_off(host)
        response = await host.http.post("/users", json={"name": "ada"})
        assert response.json()["user"] == {"name": "ada"}

    async def test_without_snapshot_fails_closed(self, make_host: MakeHost) -> None:
        """Before any snapshot, with callout cut off, a JSON route answers 503 (nothing is known)."""
        host = await make_host()
        await host.proxy.cut()
        assert (await host.http.post("/users", json={"name": "ada"})).status_code == 503
