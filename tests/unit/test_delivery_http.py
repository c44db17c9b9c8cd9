"""AiohttpSender against real aiohttp receivers on 127.0.0.1: statuses, exact bytes, redirects, timeouts, limits."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from callout import __version__
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.delivery.sender import (
    ConnectionFailed,
    DeliveryError,
    DeliveryTimeout,
    OutboundRequest,
    OutboundResponse,
    ResponseTooLarge,
)
from callout.domain.egress import EgressPolicy
from tests.delivery_receivers import Receiver, ReceiverFactory

DEV = EgressPolicy(dev_mode=True)
PINS = StaticResolver({"receiver.test": ["127.0.0.1"]})


@pytest.fixture
async def receivers() -> AsyncIterator[ReceiverFactory]:
    """Factory of loopback receivers, all stopped after the test."""
    async with ReceiverFactory() as factory:
        yield factory


@pytest.fixture
async def sender() -> AsyncIterator[AiohttpSender]:
    """A sender in development mode (loopback and plain http allowed), closed after the test."""
    async with AiohttpSender(DEV, PINS) as opened:
        yield opened


def _post(
    url: str, body: bytes = b"{}", headers: dict[str, str] | None = None, timeout: float = 5.0
) -> OutboundRequest:
    return OutboundRequest(url=url, body=body, headers=headers or {}, timeout_seconds=timeout)


def _status(code: int) -> web.Response:
    return web.Response(status=code, text=f"status {code}")


async def _send(sender: AiohttpSender, receiver: Receiver, **kwargs: object) -> OutboundResponse:
    return await sender.send(_post(receiver.url(), **kwargs))  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestStatuses:
    @pytest.mark.parametrize("code", [200, 201, 204, 400, 401, 404, 409, 429, 500, 502, 503])
    async def test_any_status_is_returned_as_a_response(
        self, sender: AiohttpSender, receivers: ReceiverFactory, code: int
    ) -> None:
        """Every HTTP status, success or not, comes back as a response rather than an error."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return _status(code)

        response = await _send(sender, await receivers.start(reply))
        assert (response.status, response.ok) == (code, 200 <= code < 300)

    async def test_response_body_is_returned(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """The response body comes back byte for byte."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(body=b'{"forwardedStatusCode":403}\xff')

        assert (await _send(sender, await receivers.start(reply))).body == b'{"forwardedStatusCode":403}\xff'


class TestRequestShape:
    async def test_body_reaches_the_receiver_byte_exact(
        self, sender: AiohttpSender, receivers: ReceiverFactory
    ) -> None:
        """The receiver gets exactly the request's body bytes, non-UTF-8 included."""
        receiver = await receivers.start()
        body = b'{"a":"\\u003c"}\x00\xfe' + bytes(range(256))
        await _send(sender, receiver, body=body)
        assert receiver.hits[0].body == body

    async def test_headers_reach_the_receiver_byte_exact(
        self, sender: AiohttpSender, receivers: ReceiverFactory
    ) -> None:
        """Every given header reaches the receiver with its exact value."""
        receiver = await receivers.start()
        headers = {"Content-Type": "application/json", "ZITADEL-Signature": "t=1,v1=ab,v1=cd", "webhook-id": "d-1"}
        await _send(sender, receiver, headers=headers)
        assert {name: receiver.hits[0].header_values(name) for name in headers} == {
            name: [value.encode()] for name, value in headers.items()
        }

    async def test_method_is_post_and_path_and_query_are_kept(
        self, sender: AiohttpSender, receivers: ReceiverFactory
    ) -> None:
        """The request is a POST to the path and query of the URL, reserved escapes kept."""
        receiver = await receivers.start()
        await sender.send(_post(receiver.url("/a/b?x=1&y=%26")))
        assert (receiver.hits[0].method, receiver.hits[0].target) == ("POST", "/a/b?x=1&y=%26")

    async def test_default_user_agent_names_callout(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """Without a User-Agent header the request carries callout/<version>."""
        receiver = await receivers.start()
        await _send(sender, receiver)
        assert receiver.hits[0].header_values("User-Agent") == [f"callout/{__version__}".encode()]

    async def test_given_user_agent_is_kept(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """A User-Agent in the request's headers, in any case, is sent alone and unchanged."""
        receiver = await receivers.start()
        await _send(sender, receiver, headers={"user-agent": "custom/1"})
        assert receiver.hits[0].header_values("User-Agent") == [b"custom/1"]


class TestResponseShape:
    async def test_headers_are_found_in_any_case(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """A header the target sends in lower case is found under its canonical name."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(headers={"retry-after": "7"})

        response = await _send(sender, await receivers.start(reply))
        assert response.headers["Retry-After"] == "7"

    async def test_repeated_headers_are_joined(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """A header sent several times comes back once, its values joined by ", "."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            response = web.Response()
            response.headers.add("X-Multi", "one")
            response.headers.add("X-Multi", "two")
            return response

        assert (await _send(sender, await receivers.start(reply))).headers["X-Multi"] == "one, two"

    async def test_latency_covers_the_wait(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """The measured latency includes the time the receiver took to answer."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(0.2)
            return _status(200)

        assert (await _send(sender, await receivers.start(reply))).latency_seconds >= 0.2

    async def test_compressed_body_is_decoded(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """A gzip-encoded response body comes back decoded."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(body=gzip.compress(b'{"ok":true}'), headers={"Content-Encoding": "gzip"})

        assert (await _send(sender, await receivers.start(reply))).body == b'{"ok":true}'


class TestRedirects:
    @pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
    async def test_redirect_is_returned_not_followed(
        self, sender: AiohttpSender, receivers: ReceiverFactory, code: int
    ) -> None:
        """A 3xx comes back as the response and its Location is never requested."""
        target = await receivers.start()

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(status=code, headers={"Location": target.url("/elsewhere")})

        response = await _send(sender, await receivers.start(reply))
        assert (response.status, response.headers["Location"], len(target.hits)) == (code, target.url("/elsewhere"), 0)


class TestTimeouts:
    async def test_slow_answer_times_out_within_the_timeout(
        self, sender: AiohttpSender, receivers: ReceiverFactory
    ) -> None:
        """A receiver slower than the timeout yields DeliveryTimeout about when the timeout ends."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            await asyncio.sleep(10)
            return _status(200)

        receiver = await receivers.start(reply)
        started = time.perf_counter()
        with pytest.raises(DeliveryTimeout):
            await _send(sender, receiver, timeout=0.3)
        assert 0.25 <= time.perf_counter() - started < 1.5

    async def test_stalled_body_times_out(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """A receiver that sends its head and then stalls in the body yields DeliveryTimeout."""

        async def reply(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            await response.prepare(request)
            await response.write(b"partial")
            await asyncio.sleep(10)
            return response

        with pytest.raises(DeliveryTimeout):
            await _send(sender, await receivers.start(reply), timeout=0.3)


class TestConnectionFailures:
    async def test_refused_port_is_connection_failed(self, sender: AiohttpSender) -> None:
        """A port nobody listens on yields ConnectionFailed."""
        with pytest.raises(ConnectionFailed):
            await sender.send(_post(f"http://127.0.0.1:{_free_port()}/hook"))

    async def test_unresolvable_name_is_connection_failed(self, sender: AiohttpSender) -> None:
        """A name the resolver does not know yields ConnectionFailed."""
        with pytest.raises(ConnectionFailed):
            await sender.send(_post("https://unknown.test/hook"))

    async def test_tls_failure_is_connection_failed(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """https to a plain-http receiver fails the TLS handshake with ConnectionFailed."""
        receiver = await receivers.start()
        with pytest.raises(ConnectionFailed):
            await sender.send(_post(f"https://receiver.test:{receiver.port}/hook"))

    async def test_dropped_connection_is_connection_failed(
        self, sender: AiohttpSender, receivers: ReceiverFactory
    ) -> None:
        """A receiver that closes the connection without answering yields ConnectionFailed."""

        async def reply(request: web.Request) -> web.StreamResponse:
            assert request.transport is not None
            request.transport.close()
            return _status(200)

        with pytest.raises(ConnectionFailed):
            await _send(sender, await receivers.start(reply))

    @pytest.mark.parametrize(
        "answer", [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\nX: " + b"a" * 20000 + b"\r\n\r\n"]
    )
    async def test_malformed_answer_is_connection_failed(self, sender: AiohttpSender, answer: bytes) -> None:
        """A peer that answers something other than valid HTTP yields ConnectionFailed."""

        async def answer_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer_raw, "127.0.0.1", 0)
        try:
            with pytest.raises(ConnectionFailed):
                await sender.send(_post(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"))
        finally:
            server.close()
            await server.wait_closed()

    async def test_invalid_url_is_connection_failed(self, sender: AiohttpSender) -> None:
        """A URL that does not parse yields ConnectionFailed."""
        with pytest.raises(ConnectionFailed):
            await sender.send(_post("http://127.0.0.1:99999/hook"))

    async def test_errors_are_callout_types(self, sender: AiohttpSender) -> None:
        """A failure surfaces as a callout DeliveryError, never as an aiohttp exception type."""
        with pytest.raises(DeliveryError) as caught:
            await sender.send(_post(f"http://127.0.0.1:{_free_port()}/hook"))
        assert type(caught.value).__module__ == "callout.delivery.sender"


class TestResponseLimit:
    async def test_declared_length_over_the_limit_is_too_large(self, receivers: ReceiverFactory) -> None:
        """A body whose Content-Length exceeds the limit yields ResponseTooLarge."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(body=b"x" * 2048)

        async with AiohttpSender(DEV, PINS, max_response_bytes=1024) as small:
            with pytest.raises(ResponseTooLarge):
                await _send(small, await receivers.start(reply))

    async def test_body_at_the_limit_is_returned(self, receivers: ReceiverFactory) -> None:
        """A body of exactly the limit comes back whole."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(body=b"x" * 1024)

        async with AiohttpSender(DEV, PINS, max_response_bytes=1024) as small:
            assert len((await _send(small, await receivers.start(reply))).body) == 1024

    async def test_endless_stream_is_cut_off(self, receivers: ReceiverFactory) -> None:
        """A chunked body without a length is abandoned once past the limit, long before its end."""
        written: list[int] = [0]

        async def reply(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            await response.prepare(request)
            for _ in range(1024):  # 64 MiB if nobody stopped it
                await response.write(b"x" * 65536)
                written[0] += 65536
            return response

        async with AiohttpSender(DEV, PINS, max_response_bytes=1024) as small:
            with pytest.raises(ResponseTooLarge):
                await _send(small, await receivers.start(reply), timeout=10)
        await asyncio.sleep(0.2)
        assert written[0] < 16 * 1024 * 1024

    async def test_decoded_size_counts(self, receivers: ReceiverFactory) -> None:
        """A small gzip body that decodes past the limit yields ResponseTooLarge."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            return web.Response(body=gzip.compress(b"0" * 1_000_000), headers={"Content-Encoding": "gzip"})

        async with AiohttpSender(DEV, PINS, max_response_bytes=100_000) as small:
            with pytest.raises(ResponseTooLarge):
                await _send(small, await receivers.start(reply))


class TestSession:
    async def test_sends_share_one_connection(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """Consecutive sends reuse the shared session's kept-alive connection."""
        receiver = await receivers.start()
        await _send(sender, receiver)
        await _send(sender, receiver)
        assert receiver.hits[0].peer == receiver.hits[1].peer

    async def test_first_send_opens_the_session(self, receivers: ReceiverFactory) -> None:
        """A sender that was never started opens its session on the first send."""
        lazy = AiohttpSender(DEV, PINS)
        try:
            assert (await _send(lazy, await receivers.start())).status == 200
        finally:
            await lazy.close()

    async def test_send_after_close_opens_a_new_session(self, receivers: ReceiverFactory) -> None:
        """After close, a send opens a fresh session instead of failing."""
        reopened = AiohttpSender(DEV, PINS)
        await reopened.start()
        await reopened.close()
        try:
            assert (await _send(reopened, await receivers.start())).status == 200
        finally:
            await reopened.close()

    async def test_close_is_idempotent(self) -> None:
        """Closing a sender twice, or one never opened, is harmless."""
        idle = AiohttpSender(DEV, PINS)
        await idle.close()
        await idle.close()

    async def test_no_cookies_are_kept(self, sender: AiohttpSender, receivers: ReceiverFactory) -> None:
        """A cookie one target sets is never sent on a later call."""

        async def reply(_request: web.Request) -> web.StreamResponse:
            response = web.Response()
            response.set_cookie("session", "secret")
            return response

        receiver = await receivers.start(reply)
        await _send(sender, receiver)
        await _send(sender, receiver)
        assert receiver.hits[1].header_values("Cookie") == []
