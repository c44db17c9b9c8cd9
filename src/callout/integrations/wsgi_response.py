"""Responses in CalloutWSGIMiddleware: holding back a 2xx JSON response for the response execution, JSON errors.

A response that is not a 2xx unencoded JSON object, or that callout cannot carry (too large, too
deep, NaN or an infinity), passes through unchanged, as in the ASGI middleware (docs/limits.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from types import TracebackType
from typing import Any

import structlog

from callout.domain.json_numbers import NonFiniteNumber
from callout.integrations.bodies import JsonTooDeep, dump_json, is_replaceable, parse_json_object

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]
Write = Callable[[bytes], Any]
StartResponse = Callable[..., Write]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# What the response execution returned, or the (status, code, message) of the error to answer.
Respond = Callable[[dict[str, Any]], dict[str, Any] | tuple[int, str, str]]

log = structlog.get_logger("callout.integrations")


class HeldResponse:
    """The app's response, started but not yet sent on: its status, headers and first chunks."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.exc_info: Any = None
        self.chunks: list[bytes] = []
        self.result: Iterable[bytes] = ()
        self.rest: Iterator[bytes] = iter(())

    @classmethod
    def of(cls, app: WSGIApp, environ: dict[str, Any], limit: int) -> HeldResponse:
        """Call the app and read its response until it started (an app may start only when iterated)."""
        held = cls(limit)
        held.result = app(environ, held.start)
        held.rest = iter(held.result)
        while held.status is None:
            chunk = next(held.rest, None)
            if chunk is None:
                break
            held.chunks.append(chunk)
        return held

    def start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Write:
        """The start_response the app calls; ``write`` (WSGI's legacy channel) adds to the held body."""
        self.status, self.headers, self.exc_info = status, list(headers), exc_info
        return self.chunks.append

    def replaceable(self) -> bool:
        """A 2xx unencoded JSON response: the response execution may replace it."""
        if self.status is None:
            return False
        headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers]
        return is_replaceable({"status": int(self.status.split()[0]), "headers": headers})

    def deliver(self, start_response: StartResponse, respond: Respond) -> Iterable[bytes]:
        """Send the response on: through the response execution when it is a JSON object callout can carry."""
        if not self.replaceable():
            start_response(self.status or "500 Internal Server Error", self.headers, self.exc_info)
            return self._relay()
        body = b"".join([*self.chunks, *self.rest])
        self.close()
        response = self.response_json(body) if body else None
        if response is None:
            start_response(self.status, self.headers)
            return [body]
        answer = respond(response)
        if isinstance(answer, tuple):
            return json_error(start_response, *answer)
        if answer != response:
            body = dump_json(answer)
        start_response(self.status, with_content_length(self.headers, len(body)))
        return [body]

    def response_json(self, body: bytes) -> dict[str, Any] | None:
        """The response as a JSON object; one callout cannot carry is None (passes through, logged)."""
        if len(body) > self.limit:
            log.warning("callout.response_too_large", skipped="response execution")
            return None
        try:
            return parse_json_object(body)
        except JsonTooDeep:
            log.warning("callout.response_too_deep", skipped="response execution")
        except NonFiniteNumber:
            log.warning("callout.response_not_finite", skipped="response execution")
        return None

    def _relay(self) -> Iterator[bytes]:
        try:
            yield from self.chunks
            yield from self.rest
        finally:
            self.close()

    def close(self) -> None:
        """Close the app's iterable, as WSGI requires of whoever consumes it."""
        close = getattr(self.result, "close", None)
        if callable(close):
            close()


def with_content_length(headers: Iterable[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    """The headers with exactly one Content-Length, of ``length``."""
    kept = [(name, value) for name, value in headers if name.lower() != "content-length"]
    return [*kept, ("Content-Length", str(length))]


def json_error(start_response: StartResponse, status: int, code: str, message: str) -> list[bytes]:
    """Answer with ``{"code", "message"}`` and its exact length."""
    body = dump_json({"code": code, "message": message})
    start_response(status_line(status), [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def status_line(status: int) -> str:
    """A WSGI status line: ``403 Forbidden`` (an unknown code gets a generic reason)."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"
