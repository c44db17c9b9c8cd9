"""The example host app (examples/asgi_app.py) in front of a real ``callout serve --dev`` process.

The example's FastAPI app, wrapped with CalloutMiddleware, is driven in-process through httpx's ASGI
transport; its DispatchClient calls the server over HTTP, and the server calls aiohttp receivers on
127.0.0.1 (allowed by --dev). Every test gets its own instance, so executions never meet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from examples.asgi_app import SERVICE, build_app

from callout.delivery.dispatch_client import DispatchClient
from tests.conftest import BACKENDS
from tests.delivery_receivers import Receiver, ReceiverFactory
from tests.dispatch_support import Actions, actions_client, run_lifespan
from tests.e2e.conftest import Server, StartServer
from tests.integration.engine_support import answer

pytestmark = pytest.mark.e2e

CREATE_USER = f"/{SERVICE}/CreateUser"
GET_USER = f"/{SERVICE}/GetUser"


@pytest.fixture(scope="module", params=BACKENDS)
def dev_server(request: pytest.FixtureRequest, start_server: StartServer) -> Server:
    """One development-mode server per backend (plain-http loopback targets allowed)."""
    return start_server(request.param, extra_args=("--dev",))


@dataclass
class Example:
    """The example app of one fresh instance, its Dispatch client, the instance's Action API, receivers."""

    http: httpx.AsyncClient
    client: DispatchClient
    actions: Actions
    receivers: ReceiverFactory

    async def hook(self, condition: dict[str, Any], *replies: Any, interrupt: bool = True) -> list[Receiver]:
        """Receivers answering with ``replies``, bound in order as the targets of ``condition``."""
        receivers = [await self.receivers.start(reply) for reply in replies]
        targets = [await self.actions.target(receiver, interrupt=interrupt) for receiver in receivers]
        await self.actions.bind(condition, targets)
        await self.client.refresh_routing()  # the middleware's snapshot sees the change at once
        return receivers


MakeExample = Callable[[], Awaitable[Example]]


@pytest.fixture
async def make_example(dev_server: Server) -> AsyncIterator[MakeExample]:
    """Factory: the example app for a new instance, its methods registered by the app's lifespan startup."""
    closers: list[Callable[[], Awaitable[None]]] = []
    async with ReceiverFactory() as receivers:

        async def make() -> Example:
            instance_id = await asyncio.to_thread(dev_server.create_instance)
            token, _ = await asyncio.to_thread(dev_server.create_token, instance_id)
            client = DispatchClient(dev_server.base_url, token)
            app = build_app(client)
            await run_lifespan(app)
            http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://users.test")
            actions = actions_client(dev_server.base_url, token)
            closers.extend([client.close, http.aclose, actions.http.aclose])
            return Example(http, client, actions, receivers)

        yield make
        for close in closers:
            await close()


@pytest.fixture
async def example(make_example: MakeExample) -> Example:
    """The example app of a fresh instance."""
    return await make_example()


class TestExampleApp:
    async def test_startup_registers_the_example_methods(self, example: Example) -> None:
        """The app's startup makes CreateUser and GetUser known to ListExecutionMethods."""
        methods = await example.actions.listed("ListExecutionMethods", "methods")
        assert {CREATE_USER, GET_USER} <= set(methods)

    async def test_rest_call_target_replaces_the_request(self, example: Example) -> None:
        """The user is created from the body a request target returned."""
        await example.hook({"request": {"method": CREATE_USER}}, answer(200, {"name": "Replaced", "email": "r@x.test"}))
        response = await example.http.post("/users", json={"name": "original"})
        assert response.json()["user"] == {"id": "1", "name": "Replaced", "email": "r@x.test"}

    async def test_target_receives_the_example_request(self, example: Example) -> None:
        """The request target gets the host method and the client's body."""
        [receiver] = await example.hook({"request": {"method": CREATE_USER}}, answer(200, {"name": "x"}))
        await example.http.post("/users", json={"name": "sent"})
        payload = json.loads(receiver.hits[0].body)
        assert (payload["fullMethod"], payload["request"]) == (CREATE_USER, {"name": "sent"})

    async def test_host_requests_traceparent_reaches_the_target(self, example: Example) -> None:
        """The client's traceparent travels with the middleware's Dispatch call on to the target, unchanged."""
        traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        [receiver] = await example.hook({"request": {"method": CREATE_USER}}, answer(200, {"name": "x"}))
        await example.http.post("/users", json={"name": "sent"}, headers={"traceparent": traceparent})
        assert receiver.hits[0].header_values("traceparent") == [traceparent.encode()]

    async def test_rest_call_target_replaces_the_response(self, example: Example) -> None:
        """The client gets the body a response target returned."""
        await example.http.post("/users", json={"name": "ada"})
        await example.hook({"response": {"method": GET_USER}}, answer(200, {"user": {"id": "1", "name": "masked"}}))
        response = await example.http.get("/users/1")
        assert response.json() == {"user": {"id": "1", "name": "masked"}}

    async def test_forwarded_403_becomes_http_403(self, example: Example) -> None:
        """A forwarded 403 answers 403 with the forwarded message, and no user is created."""
        reply = answer(200, {"forwardedStatusCode": 403, "forwardedErrorMessage": "sign-up is closed"})
        await example.hook({"request": {"method": CREATE_USER}}, reply)
        response = await example.http.post("/users", json={"name": "x"})
        assert (response.status_code, response.json()) == (
            403,
            {"code": "permission_denied", "message": "sign-up is closed"},
        )

    async def test_failing_non_interrupting_target_leaves_the_request_unchanged(self, example: Example) -> None:
        """A non-interrupting target answering 500 is skipped and the user is created as sent."""
        await example.hook({"request": {"method": CREATE_USER}}, answer(500), interrupt=False)
        response = await example.http.post("/users", json={"name": "kept"})
        assert (response.status_code, response.json()["user"]["name"]) == (200, "kept")

    async def test_unknown_route_passes_through(self, example: Example) -> None:
        """A path the app does not serve gets the app's 404 and no target of the service is called."""
        [receiver] = await example.hook({"request": {"service": SERVICE}}, answer(200, {}))
        response = await example.http.get("/nowhere")
        assert (response.status_code, receiver.hits) == (404, [])


class TestFunctions:
    async def test_run_function_merges_the_answers_of_two_targets(self, example: Example) -> None:
        """A custom function's result merges both targets' answers, the later one winning a shared key."""
        await example.client.register_catalog(functions=["prebilling"])
        first, second = answer(200, {"plan": "free", "seats": 1}), answer(200, {"plan": "pro"})
        await example.hook({"function": {"name": "prebilling"}}, first, second)
        result = await example.client.run_function("prebilling", {"account": "42"})
        assert result == {"plan": "pro", "seats": 1}

    async def test_function_targets_receive_the_context(self, example: Example) -> None:
        """A function target gets the function id and the context."""
        await example.client.register_catalog(functions=["prebilling"])
        [receiver] = await example.hook({"function": {"name": "prebilling"}}, answer(200, {}))
        await example.client.run_function("prebilling", {"account": "42"})
        assert json.loads(receiver.hits[0].body) == {"function": "function/prebilling", "account": "42"}


class TestCatalog:
    async def test_registered_methods_appear_in_list_execution_methods(self, example: Example) -> None:
        """RegisterCatalog adds host methods to ListExecutionMethods."""
        await example.client.register_catalog(methods=["/example.billing.v1.BillingService/Charge"])
        methods = await example.actions.listed("ListExecutionMethods", "methods")
        assert "/example.billing.v1.BillingService/Charge" in methods

    async def test_registered_functions_appear_in_list_execution_functions(self, example: Example) -> None:
        """RegisterCatalog adds host functions to ListExecutionFunctions."""
        await example.client.register_catalog(functions=["prebilling"])
        assert "prebilling" in await example.actions.listed("ListExecutionFunctions", "functions")
