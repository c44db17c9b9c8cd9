"""Request bodies: read at most a limit of bytes, parse one JSON object, refuse what cannot be stored.

Every failure here is a client error: a body too large is ResourceExhausted (``BodyTooLarge``, which
REST answers with 413), anything nested deeper than ``MAX_JSON_DEPTH``, unparsable or unstorable (lone
UTF-16 surrogates, NUL characters — PostgreSQL refuses both in text; NaN and infinite numbers, which
no payload encoder writes) is InvalidArgument. The depth is
checked on the raw bytes before parsing, so every later walk over the value (renaming, payload
encoding, comparisons) recurses at most that deep (docs/limits.md). Nothing reaches the handlers that
could turn into a 500 further down.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import ClientDisconnect, Request

from callout.api.errors import BodyTooLarge
from callout.domain.json_depth import MAX_JSON_DEPTH, exceeds_json_depth
from callout.domain.json_numbers import finite_float, refuse_constant
from callout.errors import InvalidArgument


async def read_bounded(request: Request, limit: int) -> bytes:
    """Read the whole body, refusing more than ``limit`` bytes with or without a Content-Length."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
    except ClientDisconnect as error:  # the client's doing: a client error, not a traceback in the log
        raise InvalidArgument("Errors.Request.Incomplete", "the client left before the body was complete") from error
    return b"".join(chunks)


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse a JSON object of at most ``MAX_JSON_DEPTH`` levels; an empty body is ``{}``."""
    if not raw.strip():
        return {}
    try:
        # Decoded as json.loads would (UTF-8, -16 or -32), so the depth is counted on the very text parsed.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
        if exceeds_json_depth(text):
            raise InvalidArgument("Errors.Request.TooDeep", f"arrays and objects nest over {MAX_JSON_DEPTH} levels")
        # NaN and infinities are not JSON (Go refuses them too) and no payload encoder can write them.
        body = json.loads(text, parse_constant=refuse_constant, parse_float=finite_float)
    except ValueError as error:  # covers JSONDecodeError, UnicodeDecodeError and huge integers
        raise _malformed(f"the body is not valid JSON: {str(error)[:200]}") from error
    if not isinstance(body, dict):
        raise _malformed("the body must be a JSON object")
    reject_unstorable_strings(body)
    return body


def reject_unstorable_strings(value: object) -> None:
    """Refuse NUL characters and lone surrogates anywhere in a decoded JSON value."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            _check_string(item)


def _check_string(text: str) -> None:
    if "\x00" in text:
        raise _malformed("strings must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise _malformed("strings must be valid Unicode (no lone surrogates)") from error


def _malformed(detail: str) -> InvalidArgument:
    return InvalidArgument("Errors.Request.MalformedJSON", detail)


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge("Errors.Request.TooLarge", f"the body is larger than {limit} bytes")
