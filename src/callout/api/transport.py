"""What both transports share: reading a bounded JSON body, running an RPC, rendering its outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from callout.api.bodies import parse_json_object, read_bounded
from callout.api.errors import http_status
from callout.api.metrics import ApiMetrics
from callout.api.rpc import Rpc, invoke
from callout.errors import CalloutError, Internal
from callout.services.auth import authenticate
from callout.services.context import ServiceContext
from callout.tracing import TRACING, accept, release

if TYPE_CHECKING:
    from callout.tracing.otel import ActiveSpan

log = structlog.get_logger("callout.api")
# Codes that mark a server span as failed; a client's mistake (invalid_argument, not_found, …) does not.
_SERVER_FAULTS = frozenset({"internal", "unknown", "unavailable", "deadline_exceeded", "data_loss"})
ErrorRenderer = Callable[[CalloutError], dict[str, Any]]


@dataclass(frozen=True)
class Transport:
    """A wire format: its name for metrics, how it renders errors and which HTTP status each gets."""

    name: str
    render_error: ErrorRenderer
    status_of: Callable[[CalloutError], int] = http_status


@dataclass(frozen=True)
class ApiState:
    """Per-application state the endpoints reach through ``request.app.state.api``."""

    context: ServiceContext
    metrics: ApiMetrics
    max_body_bytes: int


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """Read the body (at most ``limit`` bytes) as a JSON object; an empty body is ``{}``."""
    return parse_json_object(await read_bounded(request, limit))


async def handle_rpc(
    request: Request, rpc: Rpc, transport: Transport, body_reader: Callable[[Request], Any]
) -> Response:
    """Authenticate, run the RPC and render its response or error; never lets an exception escape."""
    state: ApiState = request.app.state.api
    started = time.perf_counter()
    code, error_id = "ok", ""
    otel = TRACING.otel
    # The caller's trace context: the parent of the call's span when tracing is on, else sent on as it is.
    span = None if otel is None else otel.server_call(rpc.full_method, transport.name, request.headers.get)
    incoming = accept(request.headers.get) if otel is None else None
    try:
        principal = await authenticate(state.context, request.headers.get("authorization"))
        result = await invoke(rpc, state.context, principal, lambda: body_reader(request), request.headers.items())
        return JSONResponse(result)
    except CalloutError as error:  # a client's error (or a target's): the one rpc line below says which
        code, error_id = error.kind.connect_code, error.message_id
        return JSONResponse(transport.render_error(error), status_code=transport.status_of(error))
    except asyncio.CancelledError:  # cut off when the shutdown grace ended: api/cutoff.py answers 503
        code = "canceled"
        raise
    except ClientDisconnect:  # gone mid-body (e.g. cut off by the body deadline): no one to answer
        code = "canceled"
        log.info("rpc.client_disconnected", rpc=rpc.full_method)
        return Response(status_code=499)
    except Exception:  # the client gets a generic error, the log gets the trace
        log.exception("rpc.failed", rpc=rpc.full_method)
        code = "internal"
        internal = Internal("Errors.Internal", "an unexpected error occurred")
        return JSONResponse(transport.render_error(internal), status_code=500)
    finally:
        release(incoming)
        if span is not None:
            _end_span(span, code)
        elapsed = time.perf_counter() - started
        state.metrics.observe(rpc.full_method, transport.name, code, elapsed)
        fields = {"error": error_id} if error_id else {}
        ms = round(elapsed * 1000, 2)
        log.info("rpc", rpc=rpc.full_method, transport=transport.name, code=code, ms=ms, **fields)


def _end_span(span: ActiveSpan, code: str) -> None:
    if code != "ok":
        span.span.set_attribute("rpc.connect_rpc.error_code", code)
    span.end(code if code in _SERVER_FAULTS else None)
