"""HTTP listeners: uvicorn with bounded connections, and the separate metrics listener.

uvicorn closes idle keep-alive connections but has no deadline for reading a request: a client that
never sends, or trickles its headers or body a byte at a time, holds its connection forever.
``GuardedH11Protocol`` adds two deadlines (headers, then body) and closes the connection when one
passes. Limits and their settings: docs/operations.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass, replace
from typing import Any

import h11
import structlog
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from callout.errors import FailedPrecondition
from callout.settings import Settings

log = structlog.get_logger("callout.listeners")
METRICS_MAX_CONNECTIONS = 64
METRICS_SHUTDOWN_SECONDS = 1  # a scrape under way at shutdown gets this long (docs/shutdown.md)


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request may take to arrive and how many connections are served at once."""

    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive: int = 5
    max_connections: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        """The limits configured for this process."""
        return cls(
            settings.header_timeout_seconds,
            settings.body_timeout_seconds,
            settings.keep_alive_seconds,
            settings.max_connections,
        )


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request headers and one for the request body.

    The header deadline runs from the connection's opening (or, on a kept-alive connection, from the
    next request's first byte) until the headers are complete; the body deadline from there until the
    body is complete. Both are totals, not idle times, so trickling a byte now and then does not help.
    """

    limits: ConnectionLimits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase: str | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the header deadline as soon as the connection opens."""
        super().connection_made(transport)
        self._enter("headers", self.limits.header_timeout)

    def data_received(self, data: bytes) -> None:
        """Move the deadline along with the request's progress."""
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE:
            self._enter("headers", self.limits.header_timeout)
        elif state is h11.SEND_BODY:
            self._enter("body", self.limits.body_timeout)
        else:
            self._enter(None, 0)

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._enter(None, 0)
        super().connection_lost(exc)

    def _enter(self, phase: str | None, seconds: float) -> None:
        if phase == self._phase:
            return  # a deadline is a total for its phase: more bytes do not extend it
        if self._deadline is not None:
            self._deadline.cancel()
        self._phase = phase
        self._deadline = None if phase is None else self.loop.call_later(seconds, self._expire, phase)

    def _expire(self, phase: str) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info("http.read_timeout", phase=phase, client=_peer(self.client))
            self.transport.close()


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "unknown"


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedH11Protocol]:
    """A protocol class that applies these limits (uvicorn instantiates the class per connection)."""

    class LimitedH11Protocol(GuardedH11Protocol):
        pass

    LimitedH11Protocol.limits = limits
    return LimitedH11Protocol


def uvicorn_config(
    app: Any, host: str, port: int, limits: ConnectionLimits, proxies: str = "", **extra: Any
) -> uvicorn.Config:
    """A uvicorn configuration with these limits; forwarded headers count only from ``proxies``."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=guarded_protocol(limits),
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.max_connections,
        **extra,
        # uvicorn would trust 127.0.0.1 by default: anything on this host could then set the scheme.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None,
        log_config=None,
        access_log=False,
    )


class _CompanionServer(uvicorn.Server):
    """A second uvicorn server in a process whose signals someone else handles."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Leave the signal handlers to the main server (or to the worker pool)."""
        yield


def bind_listener(host: str, port: int, what: str) -> socket.socket:
    """A listening socket, or a clear error naming the setting that chose the address."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as error:
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise FailedPrecondition(
            "Errors.Listener.Bind",
            f"cannot listen on {host}:{port} for {what} ({reason}); set another address with "
            "--metrics-address or CALLOUT_METRICS_ADDRESS (empty turns the metrics listener off)",
        ) from error


@contextlib.asynccontextmanager
async def metrics_listener(settings: Settings, app: Any) -> AsyncIterator[None]:
    """Serve ``app`` (the metrics exposition) on the configured metrics address while the block runs."""
    address = settings.metrics_listener
    if address is None:
        yield
        return
    listener = bind_listener(*address, what="metrics")
    limits = ConnectionLimits.from_settings(settings)
    limits = replace(limits, max_connections=min(limits.max_connections, METRICS_MAX_CONNECTIONS))
    server = _CompanionServer(
        uvicorn_config(app, *address, limits=limits, lifespan="off", timeout_graceful_shutdown=METRICS_SHUTDOWN_SECONDS)
    )
    task = asyncio.create_task(server.serve(sockets=[listener]))
    log.info("metrics.listening", url=f"http://{_url_host(address[0])}:{listener.getsockname()[1]}/metrics")
    try:
        yield
    finally:
        server.should_exit = True
        await task


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
