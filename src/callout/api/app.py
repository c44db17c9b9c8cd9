"""The application factory: one FastAPI app serving Connect, REST and the operational endpoints."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import callout
from callout.api.action_service import action_rpcs
from callout.api.connect import mount_connect
from callout.api.errors import connect_error_body, rest_error_body
from callout.api.metrics import ApiMetrics
from callout.api.middleware import RequestIdMiddleware
from callout.api.operations import mount_operations
from callout.api.rest import mount_rest
from callout.api.rpc import RpcRegistry
from callout.api.transport import ApiState
from callout.errors import CalloutError, InvalidArgument, NotFound
from callout.services.context import ServiceContext

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def create_app(context: ServiceContext, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> FastAPI:
    """Build the app around already opened services."""
    app = FastAPI(title="callout", version=callout.__version__, docs_url="/docs", redoc_url=None)
    app.state.api = ApiState(context=context, metrics=ApiMetrics(), max_body_bytes=max_body_bytes)
    registry = RpcRegistry(action_rpcs())
    mount_connect(app, registry)
    mount_rest(app, registry)
    mount_operations(app)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(RequestIdMiddleware)
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods still answer in the shape of the transport the client used.
    assert isinstance(exc, HTTPException)
    error: CalloutError = (
        NotFound("Errors.Route.NotFound", "no such method or path")
        if exc.status_code in (404, 405)
        else InvalidArgument("Errors.Request.Invalid", str(exc.detail))
    )
    status = 405 if exc.status_code == 405 else error.kind.http_status
    is_rest = request.url.path.startswith(("/v2/", "/v2beta/"))
    body = rest_error_body(error) if is_rest else connect_error_body(error)
    return JSONResponse(body, status_code=status)
