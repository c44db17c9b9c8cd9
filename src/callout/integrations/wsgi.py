"""A WSGI middleware that runs callout's request and response executions around a host application's routes.

The WSGI counterpart of ``CalloutMiddleware`` (callout.integrations.asgi), with the same behaviour
(docs/host-middleware.md): each route is a method ``/<service>/<Operation>``, the operation being
the route's name in UpperCamelCase; a JSON object (or empty) request body goes through the request
execution, a 2xx JSON object response through the response execution; the same body limits (413,
400 for JSON too deep or holding NaN), error shapes ``{"code", "message"}``, routing snapshot (no
Dispatch call where no execution applies) and ``on_unavailable`` policy.

WSGI has no route table of its own, so the app says which route a request takes: ``route_of(environ)``
returns the route's name (None: pass through untouched) and ``route_names()`` lists them all for the
catalog. ``callout.integrations.flask_adapter.wrap_flask`` supplies both for Flask,
``callout.integrations.django_adapter.wrap_django`` for Django. The async DispatchClient
runs on one background event loop owned by the middleware (``LoopThread``), shared by every worker
thread; ``close()`` stops it and closes the client.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import structlog

from callout.delivery.dispatch_client import DispatchError
from callout.domain.limits import DEFAULT_MAX_BODY_BYTES
from callout.integrations.asgi import Dispatcher, Identity
from callout.integrations.bodies import RefusedBody, dump_json, is_multipart, request_json, too_large
from callout.integrations.loop_thread import LoopThread
from callout.integrations.routes import operation_name
from callout.integrations.routing_policy import (
    OnUnavailable,
    Plan,
    count,
    error_answer,
    is_unreachable,
    may_skip,
    nothing_in,
    plan_of,
    skipped,
    unavailable_answer,
)
from callout.integrations.wsgi_response import HeldResponse, StartResponse, WSGIApp, json_error
from callout.tracing import accept, release

__all__ = ["CalloutWSGIMiddleware", "Environ", "RouteOf", "forwarded_headers"]

Environ = dict[str, Any]
RouteOf = Callable[[Environ], str | None]

# The headers targets may see, by their WSGI environ keys (docs/host-middleware.md).
FORWARDED_KEYS = {
    "CONTENT_TYPE": "Content-Type",
    "HTTP_HOST": "Host",
    "HTTP_ORIGIN": "Origin",
    "HTTP_X_FORWARDED_FOR": "X-Forwarded-For",
    "HTTP_X_FORWARDED_HOST": "X-Forwarded-Host",
}
REGISTER_RETRY_SECONDS = 60.0

log = structlog.get_logger("callout.integrations")


class CalloutWSGIMiddleware:
    """Runs the request and response executions of ``/<service>/<Operation>`` around each WSGI route."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        client: Dispatcher,
        service: str,
        route_of: RouteOf,
        route_names: Callable[[], Iterable[str]] | None = None,
        register: bool = True,
        identify: Callable[[Environ], Identity] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        on_unavailable: OnUnavailable | str = OnUnavailable.BY_EXECUTION,
    ) -> None:
        self.app = app
        self.client = client
        self.service = service
        self.on_unavailable = OnUnavailable(on_unavailable)
        self.max_body_bytes = max_body_bytes
        self._route_of = route_of
        self._route_names = route_names
        self._register = register
        self._identify = identify
        self._registered = False
        self._register_after = 0.0
        self._register_lock = threading.Lock()
        self.loop = LoopThread(name=f"callout-{service}")

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if self._register:
            self.ensure_registered()
        snapshot = self.loop.call(self._snapshot)
        method = None if nothing_in(snapshot) else self.method_for(environ)
        plan = plan_of(snapshot, method) if method is not None else Plan(False, False)
        if method is None or plan.calls_nothing:  # no execution applies: no round trip to callout
            count(self.client, "calls_avoided")
            return self.app(environ, start_response)
        # The client's trace context travels on with the Dispatch calls of this request (docs/tracing.md):
        # run_coroutine_threadsafe copies this thread's context into the loop's task.
        incoming = accept(lambda name: environ.get("HTTP_" + name.upper().replace("-", "_")))
        try:
            return _Call(self, method, environ, plan).run(start_response)
        finally:
            release(incoming)

    def _snapshot(self) -> Any:
        routing = getattr(self.client, "routing", None)
        return routing(self.service) if callable(routing) else None

    def method_for(self, environ: Environ) -> str | None:
        """The full method of this request, or None when it passes through untouched."""
        name = self._route_of(environ)
        operation = operation_name(name) if name else None
        return f"/{self.service}/{operation}" if operation else None

    def methods(self) -> list[str]:
        """Every method of the app, as registered in the catalog."""
        names = self._route_names() if self._route_names is not None else ()
        return sorted({f"/{self.service}/{operation_name(name)}" for name in names if operation_name(name)})

    @property
    def registered(self) -> bool:
        """The app's methods are in callout's catalog (or there were none to register)."""
        return self._registered

    def ensure_registered(self) -> None:
        """Register the app's methods once; a failure is logged and retried a minute later."""
        if self._registered or time.monotonic() < self._register_after:
            return
        with self._register_lock:
            if self._registered or time.monotonic() < self._register_after:
                return
            methods = self.methods()
            if not methods:  # no route_names given: nothing to register
                self._registered = True
                return
            try:
                self.loop.run(self.client.register_catalog(methods=methods))
                self._registered = True
            except DispatchError as error:
                self._register_after = time.monotonic() + REGISTER_RETRY_SECONDS
                log.warning("callout.register_failed", service=self.service, status=error.status, error=error.message)

    def refresh_routing(self) -> None:
        """Fetch the routing snapshot now: a change this process just made applies to its next request."""
        self.loop.call(self._snapshot)  # starts the watch if no request did yet
        refresh = getattr(self.client, "refresh_routing", None)
        if callable(refresh):
            self.loop.run(refresh())

    def identity(self, environ: Environ) -> Identity:
        """Whom the call is for (default: the host token's user and organization)."""
        return self._identify(environ) if self._identify is not None else Identity()

    def close(self) -> None:
        """Close the client (stopping its routing polls) and stop the background loop."""
        close = getattr(self.client, "close", None)
        self.loop.close(close if callable(close) else None)


class _Call:
    """One intercepted WSGI request: the request execution, the app, the response execution."""

    def __init__(self, middleware: CalloutWSGIMiddleware, method: str, environ: Environ, plan: Plan) -> None:
        self.middleware = middleware
        self.client = middleware.client
        self.method = method
        self.environ = environ
        self.plan = plan
        self.headers = forwarded_headers(environ)
        identity = middleware.identity(environ)
        self.identity = {"user_id": identity.user_id, "org_id": identity.org_id, "project_id": identity.project_id}
        self.request: dict[str, Any] = {}

    def run(self, start_response: StartResponse) -> Iterable[bytes]:
        app = self.middleware.app
        if is_multipart((self.environ.get("CONTENT_TYPE") or "").encode("latin-1")):
            return app(self.environ, start_response)  # an upload, never a JSON object: not buffered
        try:
            body, complete = read_body(self.environ, self.middleware.max_body_bytes)
            original = request_json(body)
        except RefusedBody as refusal:  # the client's fault: one log line, no traceback
            log.info("callout.request_refused", method=self.method, status=refusal.status, error=refusal.message)
            return json_error(start_response, refusal.status, refusal.code, refusal.message)
        if original is None or not complete:
            return app(with_body(self.environ, body), start_response)
        self.request = original
        if self.plan.request:
            try:
                self.request = self._run(self.client.run_request(self.method, original, self.headers, **self.identity))
            except DispatchError as error:
                if not self.may_skip(error, "request", self.plan.request_interrupts):
                    return self.fail(start_response, error)
        if self.request != original:
            body = dump_json(self.request)
        environ = with_body(self.environ, body, json=self.request != original)
        if not self.plan.response:
            return app(environ, start_response)
        held = HeldResponse.of(app, environ, self.middleware.max_body_bytes)
        return held.deliver(start_response, self.respond)

    def respond(self, response: dict[str, Any]) -> dict[str, Any] | tuple[int, str, str]:
        """The response execution's answer to ``response``, or the error (status, code, message) to send."""
        try:
            return self._run(
                self.client.run_response(self.method, self.request, response, self.headers, **self.identity)
            )
        except DispatchError as error:
            if self.may_skip(error, "response", self.plan.response_interrupts):
                return response
            return self.error(error)

    def _run(self, coroutine: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.middleware.loop.run(coroutine)
        return result

    def may_skip(self, error: DispatchError, kind: str, interrupts: bool) -> bool:
        """Whether the execution may be skipped after ``error`` (callout unreachable; docs/host-middleware.md)."""
        if not is_unreachable(error) or not may_skip(self.middleware.on_unavailable, self.plan, interrupts):
            return False
        skipped(self.client, self.method, kind, error)
        return True

    def error(self, error: DispatchError) -> tuple[int, str, str]:
        """The answer to ``error``: a target's error, callout's failure, or 503/504 while it is unreachable."""
        if is_unreachable(error):
            return unavailable_answer(self.client, error, self.method)
        return error_answer(error, self.method)

    def fail(self, start_response: StartResponse, error: DispatchError) -> Iterable[bytes]:
        """Answer ``error`` as a JSON error."""
        return json_error(start_response, *self.error(error))


def read_body(environ: Environ, limit: int) -> tuple[bytes, bool]:
    """The whole request body, and False if the client sent less than it declared.

    More than ``limit`` bytes, declared or sent, is a RefusedBody (413). Without a Content-Length
    the body is read only from a server that marks its input terminated (``wsgi.input_terminated``).
    """
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    stream = environ.get("wsgi.input") or io.BytesIO()
    if declared.isdigit():
        if int(declared) > limit:
            raise too_large(limit)
        body = stream.read(int(declared)) if int(declared) else b""
        return body, len(body) == int(declared)
    if not environ.get("wsgi.input_terminated"):
        return b"", True
    body = stream.read(limit + 1)
    if len(body) > limit:
        raise too_large(limit)
    return body, True


def with_body(environ: Environ, body: bytes, *, json: bool = False) -> Environ:
    """The environ the app sees: ``body`` to read again, its length exact (a JSON type if it had none)."""
    replaced = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    replaced.pop("HTTP_TRANSFER_ENCODING", None)
    if json and not environ.get("CONTENT_TYPE"):
        replaced["CONTENT_TYPE"] = "application/json"
    return replaced


def forwarded_headers(environ: Environ) -> dict[str, list[str]]:
    """The request headers targets may see (Content-Type, Host, Origin, X-Forwarded-For/-Host)."""
    return {name: [str(environ[key])] for key, name in FORWARDED_KEYS.items() if environ.get(key)}
