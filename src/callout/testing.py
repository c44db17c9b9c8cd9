"""A recording HTTP receiver for tests: stands in for a target and remembers every call it got.

Standard library only (a ``ThreadingHTTPServer`` on ``127.0.0.1`` and a free port, in a background
thread), so it works in sync and async tests alike::

    from callout.testing import RecordingReceiver

    with RecordingReceiver(signing_keys=key) as receiver:
        receiver.respond(status=200, json={"id": "changed"})
        ...  # point a target at receiver.url and trigger the execution
        [call] = receiver.wait_for(1)
        call.verify_signature()
        assert call.json()["fullMethod"] == "/my.Service/Method"

For JWT and JWE targets, ``call.verify_jwt(jwks)`` and ``call.decrypt_jwe(private_key_pem, jwks)``
return the JSON payload bytes inside the token (see :mod:`callout.verify`).

Replies are configured globally or per path (:meth:`RecordingReceiver.respond`, or any callable
with :meth:`RecordingReceiver.respond_with`), optionally after a delay (to exercise timeouts).
In async tests use ``await receiver.wait_for_async(n)``, which does not block the event loop.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from callout.verify import DEFAULT_TOLERANCE, SIGNATURE_HEADER, open_jwe, verify_jwt, verify_signature

_NO_JSON: Any = object()


@dataclass(frozen=True)
class RecordingRequest:
    """One request the receiver got: method, path (with query), headers in arrival order, raw body."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    received_at: datetime
    signing_keys: tuple[str, ...] = field(default=(), repr=False)

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of a header, matched case-insensitively."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), default)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.body)

    def verify_signature(
        self,
        keys: str | Sequence[str] | None = None,
        *,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        now: datetime | None = None,
    ) -> None:
        """Check the ``ZITADEL-Signature`` header (with the receiver's keys by default); raise if invalid."""
        chosen = self.signing_keys if keys is None else keys
        if not chosen:
            raise ValueError("no signing keys: pass keys= or create the receiver with signing_keys=")
        verify_signature(self.body, self.header(SIGNATURE_HEADER), chosen, tolerance=tolerance, now=now)

    def verify_jwt(self, jwks: dict[str, Any] | str) -> bytes:
        """Verify the body as a JWT against a JWKS (dict or URL); return the JSON payload bytes."""
        return verify_jwt(self.body, jwks)

    def decrypt_jwe(self, private_key_pem: bytes | str, jwks: dict[str, Any] | str) -> bytes:
        """Decrypt the body as a JWE and verify the JWT inside; return the JSON payload bytes."""
        return open_jwe(self.body, private_key_pem, jwks)


@dataclass(frozen=True)
class Reply:
    """What the receiver answers: status, body, extra headers, and a delay before answering."""

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0

    @classmethod
    def build(
        cls,
        status: int = 200,
        *,
        json: Any = _NO_JSON,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> Reply:
        """A reply with a JSON body (``json=``, sets Content-Type) or raw bytes (``body=``)."""
        extra = dict(headers or {})
        if json is not _NO_JSON:
            body = jsonlib.dumps(json, separators=(",", ":"))
            extra.setdefault("Content-Type", "application/json")
        raw = body.encode("utf-8") if isinstance(body, str) else body
        return cls(status, raw, tuple(extra.items()), delay)


Responder = Callable[[RecordingRequest], Reply]
"""Computes the reply to a request (called on the receiver's thread)."""


class RecordingReceiver:
    """An HTTP server on 127.0.0.1 that records every request and answers as configured."""

    def __init__(self, *, signing_keys: str | Sequence[str] = ()) -> None:
        self.signing_keys = (signing_keys,) if isinstance(signing_keys, str) else tuple(signing_keys)
        self._condition = threading.Condition()
        self._requests: list[RecordingRequest] = []
        self._responders: dict[str | None, Responder] = {None: _constant(Reply())}
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Bind a free port and serve in a background thread."""
        if self._server is None:
            self._server = _Server(self)
            self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; replies still waiting out a delay are cut short."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self.start()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # addresses

    @property
    def port(self) -> int:
        """The bound port (the receiver must be started)."""
        if self._server is None:
            raise RuntimeError("the receiver is not started; use it as a context manager or call start()")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:PORT/``."""
        return f"http://127.0.0.1:{self.port}/"

    def url_for(self, path: str) -> str:
        """The URL of a path on this receiver."""
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}"

    # replies

    def respond(
        self,
        status: int = 200,
        *,
        json: Any = _NO_JSON,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        path: str | None = None,
    ) -> None:
        """Answer every request (or those to ``path``) with this reply from now on."""
        reply = Reply.build(status, json=json, body=body, headers=headers, delay=delay)
        self.respond_with(_constant(reply), path=path)

    def respond_with(self, responder: Responder, *, path: str | None = None) -> None:
        """Answer every request (or those to ``path``) with whatever ``responder`` returns."""
        with self._condition:
            self._responders[_path_only(path) if path is not None else None] = responder

    # recorded requests

    @property
    def requests(self) -> list[RecordingRequest]:
        """A snapshot of the requests received so far, in arrival order."""
        with self._condition:
            return list(self._requests)

    @property
    def last(self) -> RecordingRequest:
        """The most recent request."""
        with self._condition:
            if not self._requests:
                raise LookupError("no request received yet")
            return self._requests[-1]

    def clear(self) -> None:
        """Forget the requests received so far."""
        with self._condition:
            self._requests.clear()

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[RecordingRequest]:
        """Block until at least ``count`` requests arrived; return them, or raise TimeoutError."""
        with self._condition:
            if not self._condition.wait_for(lambda: len(self._requests) >= count, timeout):
                got = len(self._requests)
                raise TimeoutError(f"expected {count} request(s) within {timeout}s, got {got}")
            return list(self._requests)

    async def wait_for_async(
        self,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 (bounds the wait on the worker thread)
    ) -> list[RecordingRequest]:
        """Like :meth:`wait_for`, without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for, count, timeout)

    # called by the handler thread

    def _record(self, request: RecordingRequest) -> Responder:
        with self._condition:
            self._requests.append(request)
            self._condition.notify_all()
            return self._responders.get(_path_only(request.path)) or self._responders[None]

    def _pause(self, seconds: float) -> None:
        self._closing.wait(seconds)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, receiver: RecordingReceiver) -> None:
        self.receiver = receiver
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _handle(self) -> None:
        receiver = self.server.receiver
        request = RecordingRequest(
            method=self.command,
            path=self.path,
            headers=tuple(self.headers.items()),
            body=self._read_body(),
            received_at=datetime.now(UTC),
            signing_keys=receiver.signing_keys,
        )
        reply = _safe_reply(receiver._record(request), request)
        if reply.delay > 0:
            receiver._pause(reply.delay)
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle  # noqa: N815 (stdlib names)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass  # trailer fields
        return b"".join(chunks)

    def _send(self, reply: Reply) -> None:
        self.close_connection = True
        try:
            self.send_response(reply.status)
            for name, value in reply.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the caller gave up (for example, a timeout shorter than the delay)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: tests inspect ``requests`` instead of a log."""


def _constant(reply: Reply) -> Responder:
    return lambda _request: reply


def _safe_reply(responder: Responder, request: RecordingRequest) -> Reply:
    try:
        return responder(request)
    except Exception as exc:  # a broken responder must not hang the caller
        return Reply(500, f"responder failed: {exc!r}".encode())


def _path_only(path: str) -> str:
    return "/" + path.split("?", 1)[0].split("#", 1)[0].lstrip("/")
