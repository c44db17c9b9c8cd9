"""An ASGI middleware that runs callout's request and response executions around a host application's routes.

Wrap any ASGI app (FastAPI, Starlette)::

    app = CalloutMiddleware(app, client=DispatchClient(url, token), service="example.users.v1.UserService")

or ``app.add_middleware(CalloutMiddleware, client=..., service=...)``. Each route is a method
``/<service>/<Operation>``, the operation being the route's name in UpperCamelCase (``create_user`` →
``CreateUser``); routes that match nothing, and routes hidden from the schema (FastAPI's docs), pass
through untouched. The request body is buffered (multipart uploads excepted), up to ``max_body_bytes``
(default 1 MiB: more is refused with 413, JSON nested too deep for callout with 400, before the app
runs; docs/limits.md). If it is a JSON object, whatever its declared content type (a handler may
parse it as JSON anyway), or empty (``{}``), it goes through the request execution and the handler
sees the possibly replaced body. A 2xx JSON object response goes through the response execution.
Other bodies (and a response too large or too deep for callout, or holding NaN or an infinity) pass
through unchanged, without executions; a request body holding those numbers is refused with 400. A
target's error (forwarded or failing) becomes an HTTP error with its status and ``{"code",
"message"}``; when callout refuses, the client gets a 502 (e.g. a bad host token, no fault of the
client's). The client's routing snapshot spares the Dispatch call where no execution applies, and
``on_unavailable`` says what happens while callout cannot be reached (docs/host-middleware.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from callout.delivery.dispatch_client import DispatchError
from callout.domain.json_numbers import NonFiniteNumber
from callout.domain.limits import DEFAULT_MAX_BODY_BYTES
from callout.integrations.bodies import (
    JsonTooDeep,
    Message,
    Receive,
    RefusedBody,
    Scope,
    Send,
    dump_json,
    header,
    is_multipart,
    is_replaceable,
    parse_json_object,
    read_body,
    replaced_request,
    replay,
    request_json,
    send_json_error,
    with_content_length,
)
from callout.integrations.routes import matching_route_name, operation_name, route_names, routes_of
from callout.integrations.routing_policy import (
    OnUnavailable,
    Plan,
    count,
    error_answer,
    is_unreachable,
    may_skip,
    nothing_configured,
    plan_for,
    skipped,
    unavailable_answer,
)
from callout.tracing import accept, release

__all__ = [
    "ASGIApp",
    "CalloutMiddleware",
    "Identity",
    "OnUnavailable",
    "forwarded_headers",
    "matching_route_name",
    "operation_name",
    "route_names",
    "send_error",
]

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = Mapping[str, Sequence[str]]

FORWARDED_HEADERS = {
    name.lower(): name for name in ("Content-Type", "Host", "Origin", "X-Forwarded-For", "X-Forwarded-Host")
}
REGISTER_RETRY_SECONDS = 60.0

log = structlog.get_logger("callout.integrations")


class Dispatcher(Protocol):
    """What the middleware needs of a Dispatch client (``DispatchClient`` is one)."""

    async def run_request(
        self,
        method: str,
        request: Mapping[str, Any],
        headers: Headers | None = None,
        user_id: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]: ...

    async def run_response(
        self,
        method: str,
        request: Mapping[str, Any],
        response: Mapping[str, Any],
        headers: Headers | None = None,
        user_id: str | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
    ) -> dict[str, Any]: ...

    async def register_catalog(
        self, methods: Iterable[str] = (), functions: Iterable[str] = (), events: Iterable[str] = ()
    ) -> None: ...


@dataclass(frozen=True)
class Identity:
    """Whom a call is for, as targets see it (``userID``, ``orgID``, ``projectID``); None: the token's."""

    user_id: str | None = None
    org_id: str | None = None
    project_id: str | None = None


class CalloutMiddleware:
    """Runs the request and response executions of ``/<service>/<Operation>`` around each HTTP route."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: Dispatcher,
        service: str,
        operation_for: Callable[[Scope], str | None] | None = None,
        register: bool = True,
        operations: Iterable[str] | None = None,
        identify: Callable[[Scope], Identity] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        on_unavailable: OnUnavailable | str = OnUnavailable.BY_EXECUTION,
    ) -> None:
        self.app = app
        self.on_unavailable = OnUnavailable(on_unavailable)
        self.max_body_bytes = max_body_bytes
        self.client = client
        self.service = service
        self._operation_for = operation_for
        self._register = register
        self._operations = None if operations is None else tuple(operations)
        self._identify = identify
        self._registered = False
        self._register_after = 0.0
        self._register_lock = asyncio.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self._register:
            await self.app(scope, receive, self._after_startup(scope, send))
            return
        if scope["type"] == "http" and nothing_configured(self.client, self.service):
            await self._pass_through(scope, receive, send)  # not even the route needs finding
            return
        method = self.method_for(scope) if scope["type"] == "http" else None
        if method is None:
            await self.app(scope, receive, send)
            return
        if self._register:
            await self.ensure_registered(scope)
        plan = plan_for(self.client, self.service, method)
        if plan.calls_nothing:  # the snapshot says no execution applies: no round trip to callout
            await self._pass_through(scope, receive, send)
            return
        # The client's trace context travels on with the Dispatch calls of this request (docs/tracing.md).
        incoming = accept(lambda name: _header_text(scope, name))
        try:
            await _Call(self, method, scope, send, plan).run(receive)
        finally:
            release(incoming)

    async def _pass_through(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._register:
            await self.ensure_registered(scope)
        count(self.client, "calls_avoided")
        await self.app(scope, receive, send)

    def method_for(self, scope: Scope) -> str | None:
        """The full method of this request, or None when it passes through untouched."""
        if self._operation_for is not None:
            operation = self._operation_for(scope)
        else:
            name = matching_route_name(self._routes(scope), scope)
            operation = operation_name(name) if name else None
        return f"/{self.service}/{operation}" if operation else None

    def methods(self, scope: Scope | None = None) -> list[str]:
        """Every method of the app (or the given operations), as registered in the catalog."""
        operations = self._operations
        if operations is None:
            operations = tuple(operation_name(name) for name in route_names(self._routes(scope or {})))
        return sorted({f"/{self.service}/{operation}" for operation in operations if operation})

    async def ensure_registered(self, scope: Scope | None = None) -> None:
        """Register the app's methods once; a failure is logged and retried a minute later."""
        if self._registered or time.monotonic() < self._register_after:
            return
        async with self._register_lock:
            if self._registered or time.monotonic() < self._register_after:
                return
            try:
                await self.client.register_catalog(methods=self.methods(scope))
                self._registered = True
            except DispatchError as error:
                self._register_after = time.monotonic() + REGISTER_RETRY_SECONDS
                log.warning("callout.register_failed", service=self.service, status=error.status, error=error.message)

    def identity(self, scope: Scope) -> Identity:
        """Whom the call is for (default: the host token's user and organization)."""
        return self._identify(scope) if self._identify is not None else Identity()

    def _routes(self, scope: Scope) -> list[Any]:
        return routes_of(self.app) or routes_of(scope.get("app"))

    def _after_startup(self, scope: Scope, send: Send) -> Send:
        async def send_after_registering(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                await self.ensure_registered(scope)
            await send(message)

        return send_after_registering


class _Call:
    """One intercepted HTTP request: the request execution, the app, the response execution."""

    def __init__(self, middleware: CalloutMiddleware, method: str, scope: Scope, send: Send, plan: Plan) -> None:
        self.middleware = middleware
        self.plan = plan
        self.client = middleware.client
        self.method = method
        self.scope = scope
        self.send = send
        self.headers = forwarded_headers(scope)
        self.identity = middleware.identity(scope)
        self.request: dict[str, Any] = {}
        self.start: Message | None = None
        self.chunks: list[bytes] = []

    async def run(self, receive: Receive) -> None:
        app = self.middleware.app
        if is_multipart(header(self.scope.get("headers", []), b"content-type")):
            await app(self.scope, receive, self.send)  # an upload, never a JSON object: not buffered
            return
        try:
            body, connected = await read_body(receive, self.scope, self.middleware.max_body_bytes)
            original = request_json(body)
        except RefusedBody as refusal:  # the client's fault: one log line, no traceback
            log.info("callout.request_refused", method=self.method, status=refusal.status, error=refusal.message)
            await send_json_error(self.send, refusal.status, refusal.code, refusal.message)
            return
        if original is None or not connected:
            await app(self.scope, replay(body, receive), self.send)
            return
        self.request = original
        try:
            if self.plan.request:
                self.request = await self.client.run_request(
                    self.method, original, self.headers, **_identity_args(self.identity)
                )
        except DispatchError as error:
            if not self.may_skip(error, "request", self.plan.request_interrupts):
                await self.fail(error)
                return
        scope, body = replaced_request(self.scope, body, original, self.request)
        await app(scope, replay(body, receive), self.intercept if self.plan.response else self.send)

    def may_skip(self, error: DispatchError, kind: str, interrupts: bool) -> bool:
        """Whether the execution may be skipped after ``error`` (callout unreachable; docs/host-middleware.md)."""
        if not is_unreachable(error) or not may_skip(self.middleware.on_unavailable, self.plan, interrupts):
            return False
        skipped(self.client, self.method, kind, error)
        return True

    async def fail(self, error: DispatchError) -> None:
        """Answer the error; an unreachable callout is a 503 (or 504) saying an execution could not run."""
        if not is_unreachable(error):
            await send_error(self.send, error, self.method)
            return
        await send_json_error(self.send, *unavailable_answer(self.client, error, self.method))

    async def intercept(self, message: Message) -> None:
        """Hold back a 2xx JSON response until the response execution has run; pass anything else on."""
        if message["type"] == "http.response.start" and is_replaceable(message):
            self.start = message
            return
        if message["type"] != "http.response.body" or self.start is None:
            if self.start is not None:  # e.g. a file sent with http.response.pathsend: no longer ours to change
                start, self.start = self.start, None
                await self.send(start)
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            await self.finish(self.start, b"".join(self.chunks))

    async def finish(self, start: Message, body: bytes) -> None:
        """Run the response execution on the held response and send what it returned."""
        self.start = None
        response = self.response_json(body) if body else None
        if response is not None:
            try:
                replaced = await self.client.run_response(
                    self.method, self.request, response, self.headers, **_identity_args(self.identity)
                )
            except DispatchError as error:
                if not self.may_skip(error, "response", self.plan.response_interrupts):
                    await self.fail(error)
                    return
                replaced = response
            if replaced != response:
                body = dump_json(replaced)
                start = {**start, "headers": with_content_length(start.get("headers", []), len(body))}
        await self.send(start)
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    def response_json(self, body: bytes) -> dict[str, Any] | None:
        """The app's response as a JSON object; one callout cannot carry is None (passes through).

        Too large, too deep, or holding NaN or an infinity (Python's json module writes them): the
        host app's own answer is delivered as it is rather than failed (docs/limits.md).
        """
        if len(body) > self.middleware.max_body_bytes:
            log.warning("callout.response_too_large", method=self.method, skipped="response execution")
            return None
        try:
            return parse_json_object(body)
        except JsonTooDeep:
            log.warning("callout.response_too_deep", method=self.method, skipped="response execution")
        except NonFiniteNumber:
            log.warning("callout.response_not_finite", method=self.method, skipped="response execution")
        return None


def _header_text(scope: Scope, name: str) -> str | None:
    value = header(scope.get("headers", []), name.encode())
    return None if value is None else value.decode("latin-1")


def _identity_args(identity: Identity) -> dict[str, str | None]:
    return {"user_id": identity.user_id, "org_id": identity.org_id, "project_id": identity.project_id}


def forwarded_headers(scope: Scope) -> dict[str, list[str]]:
    """The request headers targets may see (Content-Type, Host, Origin, X-Forwarded-For/-Host)."""
    headers: dict[str, list[str]] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = FORWARDED_HEADERS.get(raw_name.decode("latin-1").lower())
        if name is not None:
            headers.setdefault(name, []).append(raw_value.decode("latin-1"))
    return headers


async def send_error(send: Send, error: DispatchError, method: str) -> None:
    """Answer with a JSON error: a target's error keeps its status, callout's own failures become a 5xx."""
    await send_json_error(send, *error_answer(error, method))
