"""Replies of hostile targets for the real aiohttp receivers of ``tests.delivery_receivers``.

Each function returns a reply: deeply nested or huge JSON, invalid UTF-8 or plain text under a JSON
content type, a body trickled out slower than any timeout, and a connection reset halfway through
the body. ``HOSTILE`` names the ones every chain test runs through.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from tests.delivery_receivers import Reply


def raw(body: bytes, status: int = 200, content_type: str = "application/json") -> Reply:
    """Answer exactly these bytes under this content type."""

    async def reply(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, headers={"Content-Type": content_type})

    return reply


def deep_object(levels: int) -> bytes:
    """A JSON object nesting ``levels`` objects deep: ``{"a":{"a":…1…}}``."""
    return b'{"a":' * levels + b"1" + b"}" * levels


def huge_object(size: int) -> bytes:
    """A flat, valid JSON object of about ``size`` bytes (many short keys)."""
    entries = (f'"k{index}":"{"v" * 40}"' for index in range(size // 50 + 1))
    return ("{" + ",".join(entries) + "}").encode()


def trickle(interval: float = 0.1, chunks: int = 600) -> Reply:
    """Answer 200 at once, then send one byte of a JSON body every ``interval`` seconds."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = chunks + 2
        await response.prepare(request)
        await response.write(b'"')
        for _ in range(chunks):
            await asyncio.sleep(interval)
            await response.write(b"x")
        await response.write(b'"')
        return response

    return reply


def reset_mid_answer() -> Reply:
    """Declare a 10,000-byte JSON body, send 10 bytes of it, then reset the connection (TCP RST)."""

    async def reply(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = 10_000
        await response.prepare(request)
        await response.write(b'{"id":"abc')
        await asyncio.sleep(0.05)  # let the head and the first bytes leave before the reset
        transport = request.transport
        assert transport is not None
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        return response

    return reply


HOSTILE: dict[str, Reply] = {
    "deep-101": raw(deep_object(101)),
    "deep-1000": raw(deep_object(1_000)),
    "deep-100000": raw(deep_object(100_000)),
    "invalid-utf8": raw(b'{"id":"\xff\xfe\x00"}'),
    "not-json": raw(b"<html>oops</html>"),
    "nan": raw(b'{"targets":NaN}'),
    "infinite": raw(b'{"targets":1e400}'),
}
"""Answers that arrive in full but cannot be read as a JSON object (the quick cases)."""
