"""DispatchClient retries against real aiohttp servers on 127.0.0.1 that answer 503 before 200.

Idempotent calls are repeated after any 503; other pushes only when callout says nothing was stored;
executions never once callout has the request.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from callout.delivery.dispatch_client import DispatchClient, DispatchError, Repeat
from tests.delivery_receivers import ReceiverFactory

METHOD = "/example.users.v1.UserService/CreateUser"
KEYED = {"aggregateType": "o", "aggregateId": "1", "eventType": "order.paid", "idempotencyKey": "k"}
UNKEYED = {"aggregateType": "o", "aggregateId": "1", "eventType": "order.paid"}
Call = Callable[[DispatchClient], Awaitable[object]]
MakeFlaky = Callable[..., Awaitable[tuple[DispatchClient, list[str]]]]


def _unavailable(message_id: str) -> web.Response:
    body = {"code": "unavailable", "message": message_id, "details": [{"debug": {"id": message_id, "message": ""}}]}
    return web.Response(status=503, text=json.dumps(body), content_type="application/json")


def _proxy_page() -> web.Response:
    return web.Response(status=503, text="<html>busy</html>", content_type="text/html")


@pytest.fixture
async def flaky() -> AsyncIterator[MakeFlaky]:
    """Factory: a client of a server failing the first ``failures`` requests with ``failure()``, then 200."""
    async with ReceiverFactory() as receivers:
        clients: list[DispatchClient] = []

        async def make(failures: int, failure: Callable[[], web.Response]) -> tuple[DispatchClient, list[str]]:
            seen: list[str] = []

            async def reply(request: web.Request) -> web.StreamResponse:
                seen.append(request.path)
                if len(seen) <= failures:
                    return failure()
                return web.json_response({"events": [], "request": {}})

            receiver = await receivers.start(reply)
            client = DispatchClient(receiver.url(""), "t", retries=3, backoff_seconds=0.001)
            clients.append(client)
            return client, seen

        yield make
        for client in clients:
            await client.close()


class TestRepeatedCalls:
    @pytest.mark.parametrize(
        "call",
        [
            lambda client: client.register_catalog(events=["order.paid"]),
            lambda client: client.push_events([KEYED, KEYED]),
        ],
        ids=["RegisterCatalog", "PushEvents-keyed"],
    )
    async def test_idempotent_calls_are_repeated_after_any_503(self, flaky: MakeFlaky, call: Call) -> None:
        """RegisterCatalog and fully keyed pushes succeed after two 503 pages of a proxy."""
        client, seen = await flaky(2, _proxy_page)
        await call(client)
        assert len(seen) == 3

    async def test_unkeyed_push_is_repeated_when_callout_stored_nothing(self, flaky: MakeFlaky) -> None:
        """A push without keys is sent again after 503 Errors.Database.Busy (the write was rolled back)."""
        client, seen = await flaky(1, lambda: _unavailable("Errors.Database.Busy"))
        await client.push_events([UNKEYED])
        assert len(seen) == 2

    @pytest.mark.parametrize("failure", [lambda: _unavailable("Errors.Database.OutcomeUnknown"), _proxy_page])
    async def test_unkeyed_push_is_not_repeated_when_it_may_be_stored(
        self, flaky: MakeFlaky, failure: Callable[[], web.Response]
    ) -> None:
        """A push without keys is not sent again after a 503 that leaves open whether it was stored."""
        client, seen = await flaky(1, failure)
        with pytest.raises(DispatchError) as raised:
            await client.push_events([KEYED, UNKEYED])
        assert (raised.value.status, len(seen)) == (503, 1)

    async def test_executions_are_not_repeated_once_callout_has_them(self, flaky: MakeFlaky) -> None:
        """A request execution that got a 503 is not sent again: its targets may have been called."""
        client, seen = await flaky(1, lambda: _unavailable("Errors.Database.Busy"))
        with pytest.raises(DispatchError):
            await client.run_request(METHOD, {})
        assert len(seen) == 1

    async def test_repeats_are_bounded(self, flaky: MakeFlaky) -> None:
        """A callout that stays unavailable gets the call once plus three repeats, then the 503 is raised."""
        client, seen = await flaky(100, _proxy_page)
        with pytest.raises(DispatchError) as raised:
            await client.register_catalog(events=["order.paid"])
        assert (raised.value.status, len(seen)) == (503, 4)

    async def test_other_errors_are_not_repeated(self, flaky: MakeFlaky) -> None:
        """A 409 is an answer, not an outage: raised at once."""
        client, seen = await flaky(1, lambda: web.json_response({"code": "already_exists"}, status=409))
        with pytest.raises(DispatchError) as raised:
            await client.register_catalog(events=["order.paid"])
        assert (raised.value.status, len(seen)) == (409, 1)

    async def test_a_refused_connection_is_marked_not_sent(self) -> None:
        """No listener: the 503 says the request was never sent, which makes any call safe to repeat."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        async with DispatchClient(f"http://127.0.0.1:{port}", "t", retries=1, backoff_seconds=0.001) as client:
            with pytest.raises(DispatchError) as raised:
                await client.run_request(METHOD, {})
        assert (raised.value.status, raised.value.sent) == (503, False)

    def test_a_call_never_sent_may_be_repeated_whatever_it_is(self) -> None:
        """A 503 raised before any connection was made allows a repeat even of an execution."""
        error = DispatchError(503, "unavailable", "refused", sent=False)
        assert [error.may_repeat(repeat) for repeat in Repeat] == [True, True, True]
