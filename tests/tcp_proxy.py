"""A real asyncio TCP proxy on 127.0.0.1 for outage tests: forward to an upstream, cut, restore.

While cut, every open connection is aborted (a reset on both sides) and new connections are accepted and
aborted at once, so clients see the server vanish; the listening port stays bound so restoring cannot race
another process for it::

    async with TcpProxy("127.0.0.1", 5432) as proxy:
        ...  # connect to 127.0.0.1:proxy.port
        await proxy.cut()
        proxy.restore()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self

CHUNK = 64 * 1024


class TcpProxy:
    """Forwards connections from a free loopback port to ``upstream_host:upstream_port`` until cut."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.is_cut = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> Self:
        """Listen on 127.0.0.1 and a free port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return self

    @property
    def port(self) -> int:
        """The port clients connect to (the proxy must be started)."""
        if self._server is None:
            raise RuntimeError("the proxy is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def cut(self) -> None:
        """Abort every open connection and refuse new ones until :meth:`restore`."""
        self.is_cut = True
        self._abort_all()
        await self._settle()

    def restore(self) -> None:
        """Accept and forward new connections again."""
        self.is_cut = False

    async def close(self) -> None:
        """Stop listening and abort every open connection."""
        self.is_cut = True
        if self._server is not None:
            self._server.close()
        self._abort_all()
        await self._settle()
        self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """Connect upstream and pump bytes both ways, unless the proxy is cut."""
        if self.is_cut:
            client_writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.upstream_host, self.upstream_port)
        except OSError:
            client_writer.transport.abort()
            return
        if self.is_cut:  # cut while the upstream connection was being opened
            client_writer.transport.abort()
            upstream_writer.transport.abort()
            return
        self._writers.update((client_writer, upstream_writer))
        self._spawn(self._pump(client_reader, upstream_writer))
        self._spawn(self._pump(upstream_reader, client_writer))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        """Run a pump as a tracked task."""
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy bytes until either side closes or the proxy is cut, then close the other side."""
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(CHUNK):
                writer.write(data)
                await writer.drain()
        self._writers.discard(writer)
        writer.close()  # flushes what is buffered; a cut has already aborted it

    def _abort_all(self) -> None:
        """Reset every connection, client and upstream side alike."""
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def _settle(self) -> None:
        """Wait for the pumps of aborted connections to finish."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
