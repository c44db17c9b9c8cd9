"""Plain ASGI middleware: a request cut off by the shutdown is answered 503, not 500 (docs/shutdown.md).

When the grace period ends (or at a forced stop) the server cancels the requests still running. Left
alone, the cancellation reaches uvicorn, which answers ``500 Internal Server Error`` in plain text.
This middleware answers instead with ``unavailable`` in the shape of the transport the client used,
so clients see a retryable error, as for any other outage.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callout.api.errors import connect_error_body, rest_error_body
from callout.errors import Unavailable

REST_PREFIXES = ("/v1/", "/v2/", "/v2beta/")
SHUTTING_DOWN = Unavailable(
    "Errors.Server.ShuttingDown",
    "the server shut down before this call finished; it may or may not have taken effect - retry",
)


class ShutdownCutoff:
    """Answers 503 ``unavailable`` to requests cancelled once ``shutting_down`` is set, if nothing was sent yet."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Set by the server at the first stop signal; uvicorn cancels request tasks only when shutting down.
        self.shutting_down = False
        self.cancelled = 0  # requests cancelled by the shutdown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watching(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watching)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not self.shutting_down or task is None:
                raise
            self.cancelled += 1
            if started:  # too late for another answer: the connection just closes
                raise
            task.uncancel()  # the cancellation is answered here rather than passed on to uvicorn
            await _answer_unavailable(scope, send)


async def _answer_unavailable(scope: Scope, send: Send) -> None:
    is_rest = str(scope.get("path", "")).startswith(REST_PREFIXES)
    body = orjson.dumps(rest_error_body(SHUTTING_DOWN) if is_rest else connect_error_body(SHUTTING_DOWN))
    headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": SHUTTING_DOWN.kind.http_status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
