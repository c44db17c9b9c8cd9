"""Bodies in CalloutMiddleware: reading a request within its limits, parsing JSON objects, replaying bodies.

A request body is read up to ``max_body_bytes`` (default: the API's 1 MiB); a larger one is refused
with 413 before the app sees any of it, never truncated. JSON is parsed only after its nesting was
counted on the raw text: the body travels one level down inside a Dispatch body, so the middleware
allows ``DISPATCHED_JSON_DEPTH`` (one less than callout's limit) and a request nesting deeper is
refused with 400 (docs/limits.md).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from callout.domain.json_depth import MAX_JSON_DEPTH, exceeds_json_depth
from callout.domain.json_numbers import NonFiniteNumber, finite_float, refuse_constant

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The body is the ``request`` (or ``response``) field of a Dispatch body: one level deeper there.
DISPATCHED_JSON_DEPTH = MAX_JSON_DEPTH - 1


class RefusedBody(Exception):
    """A request body the middleware answers itself (413 or 400), before the app runs."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class JsonTooDeep(ValueError):
    """A JSON text nests deeper than ``DISPATCHED_JSON_DEPTH``."""


async def read_body(receive: Receive, scope: Scope, limit: int) -> tuple[bytes, bool]:
    """The whole request body, and False if the client disconnected before sending all of it.

    More than ``limit`` bytes, declared or received, is a RefusedBody (413).
    """
    declared = (header(scope.get("headers", []), b"content-length") or b"").strip()
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks), False
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def request_json(body: bytes) -> dict[str, Any] | None:
    """The request body as a JSON object (empty: ``{}``), None for anything else.

    Too deep, or holding NaN, an infinity or a float overflowing to one, is a RefusedBody (400): the
    app's own JSON parser may well read such a body, so letting it through would skip the request
    execution; callout refuses those numbers like Go does (docs/limits.md).
    """
    try:
        return parse_json_object(body)
    except JsonTooDeep:
        detail = f"the body nests JSON arrays and objects more than {DISPATCHED_JSON_DEPTH} levels deep"
        raise RefusedBody(400, "invalid_argument", detail) from None
    except NonFiniteNumber as error:
        raise RefusedBody(400, "invalid_argument", f"the body is not valid JSON: {error}") from None


def parse_json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object (empty: ``{}``), or None when it is something else.

    JSON (a text starting with ``{`` or ``[``) nesting deeper than ``DISPATCHED_JSON_DEPTH`` raises
    JsonTooDeep instead of being parsed; one holding NaN, an infinity or a number beyond the float
    range raises NonFiniteNumber (callout, like Go, cannot carry those).
    """
    if not body.strip():
        return {}
    try:
        # Decoded as json.loads would (UTF-8, -16 or -32), so the depth is counted on the very text parsed.
        text = body.decode(json.detect_encoding(body), "surrogatepass")
    except UnicodeDecodeError:
        return None
    if text.lstrip(" \t\r\n")[:1] not in ("{", "["):
        return None
    if exceeds_json_depth(text, DISPATCHED_JSON_DEPTH):
        raise JsonTooDeep
    try:
        value = json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)
    except NonFiniteNumber:
        raise
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that first yields ``body`` as one message, then the client's later messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def replaced_request(
    scope: Scope, body: bytes, original: dict[str, Any], request: dict[str, Any]
) -> tuple[Scope, bytes]:
    """The scope and body the app sees: unchanged if the request is, else the new JSON, length fixed."""
    if request == original:
        return scope, body
    new_body = dump_json(request)
    headers = [(name, value) for name, value in scope.get("headers", []) if name.lower() != b"transfer-encoding"]
    if header(headers, b"content-type") is None:
        headers.append((b"content-type", b"application/json"))
    return {**scope, "headers": with_content_length(headers, len(new_body))}, new_body


def with_content_length(headers: Iterable[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    """The headers with exactly one content-length, of ``length``."""
    kept = [(name, value) for name, value in headers if name.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]


async def send_json_error(send: Send, status: int, code: str, message: str) -> None:
    """Answer with ``{"code", "message"}`` and its exact length."""
    body = dump_json({"code": code, "message": message})
    headers = with_content_length([(b"content-type", b"application/json")], len(body))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of a header (``name`` in lower case), or None."""
    return next((value for key, value in headers if key.lower() == name), None)


def dump_json(value: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def too_large(limit: int) -> RefusedBody:
    """The refusal (413) of a body larger than ``limit``."""
    return RefusedBody(413, "resource_exhausted", f"the body is larger than {limit} bytes")


def _media_type(content_type: bytes | None) -> bytes:
    return (content_type or b"").split(b";")[0].strip().lower()


def _is_json(content_type: bytes | None) -> bool:
    media = _media_type(content_type)
    return media == b"application/json" or media.endswith(b"+json")


def is_multipart(content_type: bytes | None) -> bool:
    """A multipart upload (never a JSON object: the middleware does not buffer it)."""
    return _media_type(content_type).startswith(b"multipart/")


def is_replaceable(start: Message) -> bool:
    """A 2xx, unencoded JSON response: the response execution may replace it."""
    headers = start.get("headers", [])
    encoding = header(headers, b"content-encoding")
    plain = encoding is None or encoding.strip().lower() == b"identity"
    return 200 <= int(start["status"]) <= 299 and plain and _is_json(header(headers, b"content-type"))
