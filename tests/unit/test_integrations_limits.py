"""CalloutMiddleware's own refusals before the app runs: bodies over the size limit (413), nested too deep or
holding non-finite numbers (400).

The middleware's Dispatch client points at a closed port: a refused request must never reach callout
(nor the app), so any call would fail the test.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog

from callout.delivery.dispatch_client import DispatchClient
from callout.domain.json_depth import MAX_JSON_DEPTH
from callout.domain.json_numbers import NonFiniteNumber
from callout.domain.limits import DEFAULT_MAX_BODY_BYTES
from callout.integrations.asgi import CalloutMiddleware
from callout.integrations.bodies import DISPATCHED_JSON_DEPTH, JsonTooDeep, parse_json_object, read_body
from tests.dispatch_support import host_app

SERVICE = "example.users.v1.UserService"
DEEP = [101, 500, 990, 5000, 100_000]


class AppCalls:
    """An ASGI app wrapper counting the requests that reached the host app."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.router = app.router  # the middleware finds the routes here
        self.count = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.count += 1
        await self.app(scope, receive, send)


def deep_object(depth: int) -> bytes:
    """A JSON object nested exactly ``depth`` levels."""
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.fixture
async def make_host() -> AsyncIterator[Any]:
    """Factory: an httpx client in front of the middleware around the test host app, and the app's call count."""
    clients: list[httpx.AsyncClient] = []
    dispatch_clients: list[DispatchClient] = []

    def make(**options: Any) -> tuple[httpx.AsyncClient, AppCalls]:
        calls = AppCalls(host_app())
        client = DispatchClient("http://127.0.0.1:9", "t", timeout_seconds=1)
        dispatch_clients.append(client)  # its routing poll runs in the background until closed
        middleware = CalloutMiddleware(calls, client=client, service=SERVICE, register=False, **options)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=middleware), base_url="http://host.test")
        clients.append(http)
        return http, calls

    yield make
    for http in clients:
        await http.aclose()
    for client in dispatch_clients:
        await client.close()


class TestBodySizeLimit:
    async def test_declared_length_over_the_limit_is_413(self, make_host: Any) -> None:
        """A body over 1 MiB is refused with 413 and a JSON error; the app never runs."""
        http, calls = make_host()
        response = await http.post("/users", content=b"{" + b" " * DEFAULT_MAX_BODY_BYTES + b"}")
        assert (response.status_code, response.json()["code"], calls.count) == (413, "resource_exhausted", 0)

    async def test_streamed_body_over_the_limit_is_413(self, make_host: Any) -> None:
        """A chunked body without Content-Length is cut off once it passes the limit; the app never runs."""
        http, calls = make_host(max_body_bytes=2048)

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "'
            for _ in range(4):
                yield b"a" * 1024
            yield b'"}'

        response = await http.post("/users", content=chunks())
        assert (response.status_code, calls.count) == (413, 0)

    async def test_limit_is_configurable(self, make_host: Any) -> None:
        """With max_body_bytes=2048 a body of 2049 bytes is refused, naming the limit."""
        http, _ = make_host(max_body_bytes=2048)
        response = await http.post("/users", content=b"{" + b" " * 2047 + b"}")
        assert (response.status_code, response.json()["message"]) == (413, "the body is larger than 2048 bytes")

    async def test_error_declares_json_and_its_length(self, make_host: Any) -> None:
        """The 413 answer is application/json with an exact Content-Length."""
        http, _ = make_host(max_body_bytes=1024)
        response = await http.post("/users", content=b"x" * 2000)
        assert (response.headers["content-type"], int(response.headers["content-length"])) == (
            "application/json",
            len(response.content),
        )

    async def test_unmatched_route_is_not_limited(self, make_host: Any) -> None:
        """A path no route serves passes through untouched, whatever its size."""
        http, calls = make_host(max_body_bytes=1024)
        response = await http.post("/nowhere", content=b"x" * 4096)
        assert (response.status_code, calls.count) == (404, 1)


class TestDepthLimit:
    @pytest.mark.parametrize("depth", DEEP)
    async def test_deep_json_is_400_with_one_log_line(self, make_host: Any, depth: int) -> None:
        """A JSON body nested 101 to 100,000 levels is a 400 invalid_argument, logged once without a traceback."""
        http, calls = make_host()
        with structlog.testing.capture_logs() as logs:
            response = await http.post("/users", content=deep_object(depth))
        assert (response.status_code, response.json()["code"], calls.count) == (400, "invalid_argument", 0)
        assert [(entry["event"], entry["status"], "exc_info" in entry) for entry in logs] == [
            ("callout.request_refused", 400, False)
        ]

    async def test_just_over_the_dispatched_depth_is_refused(self, make_host: Any) -> None:
        """A body of 100 levels is one too many: inside a Dispatch body it would nest 101 deep."""
        http, calls = make_host()
        response = await http.post("/users", content=deep_object(MAX_JSON_DEPTH))
        assert (response.status_code, calls.count) == (400, 0)

    async def test_deep_array_is_refused_too(self, make_host: Any) -> None:
        """A deep JSON array, which the app might parse itself, is refused like a deep object."""
        http, calls = make_host()
        response = await http.post("/users", content=b"[" * 5000 + b"]" * 5000)
        assert (response.status_code, calls.count) == (400, 0)

    async def test_bracketed_text_that_is_not_json_passes_through(self, make_host: Any) -> None:
        """A text body that does not start like JSON goes to the app unparsed, however many brackets it holds."""
        http, calls = make_host()
        response = await http.post("/echo", content=b"notes " + b"[" * 5000, headers={"content-type": "text/plain"})
        assert (response.status_code, response.content, calls.count) == (200, b"notes " + b"[" * 5000, 1)


class TestNonFiniteNumbers:
    @pytest.mark.parametrize("body", [b'{"a": NaN}', b'{"a": [Infinity]}', b'{"a": -Infinity}', b'{"a": 1e999}'])
    async def test_request_with_a_non_finite_number_is_400(self, make_host: Any, body: bytes) -> None:
        """NaN, an infinity or an overflowing float in a request is a 400 invalid_argument; the app never runs."""
        http, calls = make_host()
        with structlog.testing.capture_logs() as logs:
            response = await http.post("/users", content=body, headers={"content-type": "application/json"})
        assert (response.status_code, response.json()["code"], calls.count) == (400, "invalid_argument", 0)
        assert [(entry["event"], entry["status"]) for entry in logs] == [("callout.request_refused", 400)]

    def test_parse_raises_for_a_non_finite_number(self) -> None:
        """parse_json_object raises NonFiniteNumber rather than reading NaN as a float."""
        with pytest.raises(NonFiniteNumber):
            parse_json_object(b'{"a": NaN}')

    def test_large_finite_float_is_read(self) -> None:
        """The largest finite double is an ordinary number."""
        assert parse_json_object(b'{"a": 1.7976931348623157e308}') == {"a": 1.7976931348623157e308}


class TestParseJsonObject:
    def test_object_at_the_dispatched_depth_is_parsed(self) -> None:
        """An object of exactly DISPATCHED_JSON_DEPTH levels is parsed."""
        assert parse_json_object(deep_object(DISPATCHED_JSON_DEPTH)) == json.loads(deep_object(DISPATCHED_JSON_DEPTH))

    def test_object_one_level_deeper_raises(self) -> None:
        """One level more raises JsonTooDeep before any parsing."""
        with pytest.raises(JsonTooDeep):
            parse_json_object(deep_object(DISPATCHED_JSON_DEPTH + 1))

    def test_utf16_json_is_depth_checked_on_its_text(self) -> None:
        """A UTF-16 body, which json.loads accepts, is decoded before its depth is counted."""
        with pytest.raises(JsonTooDeep):
            parse_json_object(deep_object(500).decode().encode("utf-16"))

    def test_invalid_utf8_is_not_a_json_object(self) -> None:
        """Bytes that are not UTF-8 are simply not a JSON object."""
        assert parse_json_object(b'{"a": "\xff"}') is None


class TestReadBody:
    async def test_body_of_exactly_the_limit_is_read(self) -> None:
        """Chunks adding up to exactly the limit are read whole."""
        messages = [
            {"type": "http.request", "body": b"a" * 10, "more_body": True},
            {"type": "http.request", "body": b"b" * 6},
        ]

        async def receive() -> dict[str, Any]:
            return messages.pop(0)

        assert await read_body(receive, {"headers": []}, 16) == (b"a" * 10 + b"b" * 6, True)
