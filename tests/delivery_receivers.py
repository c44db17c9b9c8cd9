"""Real HTTP receivers on loopback for the delivery tests, plus two tripwires that prove nothing was contacted.

* ``ReceiverFactory`` starts aiohttp ``web.Application`` servers on 127.0.0.x, ephemeral ports, each
  recording every request it gets (method, path, raw headers, exact body) and answering with a reply
  function of the test's choosing.
* ``Tripwire`` is a bare TCP listener that counts connections: a refused call must leave it at zero.
* ``ConnectGuard`` watches the process's ``socket.connect`` and ``socket.getaddrinfo`` audit events
  while active, records them, and *refuses* (before any packet is sent) every connect outside
  loopback and every name lookup, so a test can never send traffic off the machine.
"""

from __future__ import annotations

import asyncio
import ipaddress
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

Reply = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the receiver saw it."""

    method: str
    target: str
    raw_headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    peer: tuple[str, int]

    def header_values(self, name: str) -> list[bytes]:
        """Every raw value sent under ``name`` (case-insensitive)."""
        wanted = name.lower().encode()
        return [value for key, value in self.raw_headers if key.lower() == wanted]


@dataclass
class Receiver:
    """A running receiver: where it listens and what it got."""

    host: str
    port: int
    hits: list[RecordedRequest] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        """The plain-http URL of ``path`` on this receiver."""
        return f"http://{self.host}:{self.port}{path}"


async def reply_ok(_request: web.Request) -> web.StreamResponse:
    """The default reply: 200 with a small JSON body."""
    return web.json_response({"ok": True})


class ReceiverFactory:
    """Starts receivers on demand and stops them all on exit."""

    def __init__(self) -> None:
        self._runners: list[web.AppRunner] = []

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        for runner in self._runners:
            await runner.cleanup()

    async def start(self, reply: Reply = reply_ok, host: str = "127.0.0.1", port: int = 0) -> Receiver:
        """Start a receiver answering with ``reply`` on ``host`` (port 0: an ephemeral one)."""
        receiver = Receiver(host, 0)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", _recording(receiver, reply))
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, host, port).start()
        receiver.port = runner.addresses[0][1]
        return receiver


def _recording(receiver: Receiver, reply: Reply) -> Reply:
    async def handle(request: web.Request) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peername") if request.transport else ("", 0)
        body = await request.read()
        receiver.hits.append(RecordedRequest(request.method, request.raw_path, request.raw_headers, body, peer))
        return await reply(request)

    return handle


class Tripwire:
    """A TCP listener on 127.0.0.1 that accepts, counts and drops every connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _accept(self, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


class ConnectGuard:
    """Records (and outside loopback refuses) socket connects and name lookups while active."""

    _active: ConnectGuard | None = None
    _installed = False

    def __init__(self) -> None:
        self.connects: list[tuple[str, int]] = []
        self.lookups: list[str] = []

    def __enter__(self) -> Self:
        if not ConnectGuard._installed:
            sys.addaudithook(_audit)  # audit hooks cannot be removed: install once, inert when inactive
            ConnectGuard._installed = True
        ConnectGuard._active = self
        return self

    def __exit__(self, *_exc: object) -> None:
        ConnectGuard._active = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    guard = ConnectGuard._active
    if guard is None:
        return
    if event == "socket.connect" and isinstance(args[1], tuple):
        host, port = str(args[1][0]), int(args[1][1])
        guard.connects.append((host, port))
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise ConnectionRefusedError(f"test guard: refused connect to {host}:{port}")
    elif event == "socket.getaddrinfo":
        guard.lookups.append(str(args[0]))
        raise ConnectionRefusedError(f"test guard: refused name lookup of {args[0]!r}")
