"""DispatchClient against real aiohttp receivers on 127.0.0.1: what it sends, answers, errors, transport failures."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from callout.delivery.dispatch_client import DispatchClient, DispatchError
from tests.delivery_receivers import Receiver, ReceiverFactory, Tripwire

METHOD = "/example.users.v1.UserService/CreateUser"


@pytest.fixture
async def receivers() -> AsyncIterator[ReceiverFactory]:
    """Factory of loopback receivers, all stopped after the test."""
    async with ReceiverFactory() as factory:
        yield factory


def json_reply(status: int, body: object) -> web.Response:
    """A JSON answer."""
    return web.Response(status=status, text=json.dumps(body), content_type="application/json")


async def client_for(
    receivers: ReceiverFactory, status: int = 200, body: object = None
) -> tuple[DispatchClient, Receiver]:
    """A receiver answering ``status`` with the JSON ``body`` (or ``{}``) and a client pointing at it."""

    async def reply(_request: web.Request) -> web.StreamResponse:
        return json_reply(status, {} if body is None else body)

    receiver = await receivers.start(reply)
    return DispatchClient(f"http://127.0.0.1:{receiver.port}/", "host-token"), receiver


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestWhatIsSent:
    async def test_request_goes_to_the_connect_path(self, receivers: ReceiverFactory) -> None:
        """run_request posts to /callout.v1.DispatchService/RunRequestExecution."""
        client, receiver = await client_for(receivers, body={"request": {}})
        async with client:
            await client.run_request(METHOD, {})
        assert (receiver.hits[0].method, receiver.hits[0].target) == (
            "POST",
            "/callout.v1.DispatchService/RunRequestExecution",
        )

    async def test_token_is_sent_as_bearer(self, receivers: ReceiverFactory) -> None:
        """The host token travels in the Authorization header."""
        client, receiver = await client_for(receivers, body={"request": {}})
        async with client:
            await client.run_request(METHOD, {})
        assert receiver.hits[0].header_values("authorization") == [b"Bearer host-token"]

    async def test_request_body_carries_method_request_headers_and_ids(self, receivers: ReceiverFactory) -> None:
        """The body holds the method, request, headers and the given ids, nothing unset."""
        client, receiver = await client_for(receivers, body={"request": {}})
        async with client:
            await client.run_request(METHOD, {"a": 1}, {"Host": ["h"]}, user_id="u1", project_id="p1")
        assert json.loads(receiver.hits[0].body) == {
            "method": METHOD,
            "request": {"a": 1},
            "headers": {"Host": ["h"]},
            "userId": "u1",
            "projectId": "p1",
        }

    async def test_response_body_carries_request_and_response(self, receivers: ReceiverFactory) -> None:
        """run_response sends the request and the response."""
        client, receiver = await client_for(receivers, body={"response": {}})
        async with client:
            await client.run_response(METHOD, {"a": 1}, {"b": 2})
        assert json.loads(receiver.hits[0].body) == {"method": METHOD, "request": {"a": 1}, "response": {"b": 2}}

    async def test_function_body_carries_name_and_context(self, receivers: ReceiverFactory) -> None:
        """run_function posts the name and context to RunFunction."""
        client, receiver = await client_for(receivers, body={"result": {}})
        async with client:
            await client.run_function("prebilling", {"plan": "pro"})
        assert (receiver.hits[0].target, json.loads(receiver.hits[0].body)) == (
            "/callout.v1.DispatchService/RunFunction",
            {"name": "prebilling", "context": {"plan": "pro"}},
        )

    async def test_catalog_body_lists_every_kind(self, receivers: ReceiverFactory) -> None:
        """register_catalog sends methods, functions and events as lists."""
        client, receiver = await client_for(receivers)
        async with client:
            await client.register_catalog(methods=(METHOD,), events=["user.added"])
        assert json.loads(receiver.hits[0].body) == {"methods": [METHOD], "functions": [], "events": ["user.added"]}


class TestAnswers:
    async def test_replaced_request_is_returned(self, receivers: ReceiverFactory) -> None:
        """The ``request`` of the answer is returned."""
        client, _ = await client_for(receivers, body={"request": {"name": "new"}})
        async with client:
            assert await client.run_request(METHOD, {}) == {"name": "new"}

    async def test_missing_field_is_an_empty_object(self, receivers: ReceiverFactory) -> None:
        """An answer without ``result`` (protojson omits empty messages) is ``{}``."""
        client, _ = await client_for(receivers, body={})
        async with client:
            assert await client.run_function("prebilling", {}) == {}

    async def test_answer_that_is_not_an_object_is_an_error(self, receivers: ReceiverFactory) -> None:
        """A 2xx answer that is not a JSON object raises 502 internal."""
        client, _ = await client_for(receivers, body=[1])
        async with client:
            with pytest.raises(DispatchError) as caught:
                await client.run_request(METHOD, {})
        assert (caught.value.status, caught.value.code) == (502, "internal")

    async def test_field_that_is_not_an_object_is_an_error(self, receivers: ReceiverFactory) -> None:
        """A ``request`` field that is not an object raises 502 internal."""
        client, _ = await client_for(receivers, body={"request": "text"})
        async with client:
            with pytest.raises(DispatchError) as caught:
                await client.run_request(METHOD, {})
        assert caught.value.status == 502


class TestErrors:
    async def test_connect_error_is_parsed(self, receivers: ReceiverFactory) -> None:
        """A Connect error body gives status, code, message, message id and detail."""
        error_body = {
            "code": "permission_denied",
            "message": "Errors.Execution.Forwarded (nope)",
            "details": [{"type": "t", "value": "v", "debug": {"id": "Errors.Execution.Forwarded", "message": "nope"}}],
        }
        client, _ = await client_for(receivers, 403, error_body)
        async with client:
            with pytest.raises(DispatchError) as caught:
                await client.run_request(METHOD, {})
        error = caught.value
        assert (error.status, error.code, error.message, error.message_id, error.detail) == (
            403,
            "permission_denied",
            "Errors.Execution.Forwarded (nope)",
            "Errors.Execution.Forwarded",
            "nope",
        )

    async def test_error_without_json_keeps_the_status(self, receivers: ReceiverFactory) -> None:
        """A non-JSON error page (say, of a proxy) raises with its status and a code for it."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(status=503, text="<html>down</html>", content_type="text/html")

        receiver = await receivers.start(reply)
        async with DispatchClient(receiver.url(""), "t") as client:
            with pytest.raises(DispatchError) as caught:
                await client.register_catalog()
        assert (caught.value.status, caught.value.code, caught.value.message_id) == (503, "unavailable", "")

    async def test_execution_error_is_recognised(self) -> None:
        """Errors with an Errors.Execution id come from targets."""
        assert DispatchError(403, "permission_denied", "m", "Errors.Execution.Forwarded", "x").is_execution_error

    async def test_callout_error_is_not_an_execution_error(self) -> None:
        """Errors with another id come from callout itself."""
        assert not DispatchError(403, "permission_denied", "m", "Errors.Permission.Denied", "").is_execution_error


class TestTransportFailures:
    async def test_refused_connection_is_unavailable(self) -> None:
        """Nothing listening raises 503 unavailable."""
        async with DispatchClient(f"http://127.0.0.1:{_free_port()}", "t") as client:
            with pytest.raises(DispatchError) as caught:
                await client.run_request(METHOD, {})
        assert (caught.value.status, caught.value.code) == (503, "unavailable")

    async def test_dropped_connection_is_unavailable(self) -> None:
        """A server that closes the connection without answering raises 503 unavailable."""
        async with Tripwire() as tripwire, DispatchClient(f"http://127.0.0.1:{tripwire.port}", "t") as client:
            with pytest.raises(DispatchError) as caught:
                await client.run_request(METHOD, {})
        assert caught.value.code == "unavailable"

    async def test_slow_server_is_deadline_exceeded(self, receivers: ReceiverFactory) -> None:
        """No answer within the timeout raises 504 deadline_exceeded."""
        import asyncio

        async def slow(_request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(2)
            return json_reply(200, {})

        receiver = await receivers.start(slow)
        async with DispatchClient(receiver.url(""), "t", timeout_seconds=0.2) as client:
            with pytest.raises(DispatchError) as caught:
                await client.run_request(METHOD, {})
        assert (caught.value.status, caught.value.code) == (504, "deadline_exceeded")
