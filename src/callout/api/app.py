"""The application factory: one FastAPI app serving Connect, REST and the operational endpoints."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

import callout
from callout import tracing
from callout.api.action_service import action_rpcs
from callout.api.connect import mount_connect
from callout.api.delivery_service import delivery_rpcs
from callout.api.dispatch_service import dispatch_rpcs
from callout.api.errors import connect_error_body, rest_error_body
from callout.api.metrics import ApiMetrics
from callout.api.middleware import RequestIdMiddleware
from callout.api.oidc import mount_oidc
from callout.api.operations import mount_operations
from callout.api.rest import mount_rest
from callout.api.rpc import RpcRegistry
from callout.api.transport import ApiState
from callout.domain.limits import DEFAULT_MAX_BODY_BYTES
from callout.errors import CalloutError, InvalidArgument, NotFound, Unimplemented
from callout.services.context import ServiceContext
from callout.services.workers import WorkerPool


def create_app(
    context: ServiceContext,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    owns_context: bool = False,
    workers: WorkerPool | None = None,
    external_url: str | None = None,
) -> FastAPI:
    """Build the app around already opened services; ``owns_context`` closes them on shutdown.

    ``workers`` run for the app's lifetime and stop before the services close; they must work on
    the app's own context (``with_api_catalog``), so that one router cache and one chain runner
    serve both. Its metrics (``app.state.api.metrics``) are served by the metrics listener, not here.
    """
    context = with_api_catalog(context)
    if workers is not None and workers.context is not context:
        raise ValueError("the workers must share the app's context: build it with with_api_catalog()")

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if workers is not None:
            workers.start()
        yield
        if workers is not None:
            await workers.stop()
        if owns_context:
            await context.close()
            # The process's last spans: uvicorn ends a SIGTERM by re-raising it, so atexit never runs.
            await asyncio.to_thread(tracing.shutdown)

    # No slash redirects: a trailing slash is an unknown path, answered in the transport's shape.
    app = FastAPI(
        title="callout",
        version=callout.__version__,
        docs_url="/docs",
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    registry = _registry()
    metrics = ApiMetrics()
    metrics.watch(context, workers)
    app.state.api = ApiState(context=context, metrics=metrics, max_body_bytes=max_body_bytes)
    mount_connect(app, registry)
    mount_rest(app, registry)
    mount_operations(app)
    mount_oidc(app, external_url)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(RequestIdMiddleware)
    return app


def _registry() -> RpcRegistry:
    return RpcRegistry(action_rpcs() + dispatch_rpcs() + delivery_rpcs())


def with_api_catalog(context: ServiceContext) -> ServiceContext:
    """The context whose catalog also has callout's own methods (executions can bind to them).

    A context that has them already is returned as it is: a copy would bring its own router cache
    and chain runner, and the API and the workers of one process would no longer share them.
    """
    catalog = context.catalog.merged(methods=[rpc.full_method for rpc in _registry() if rpc.intercept])
    return context if catalog == context.catalog else replace(context, catalog=catalog)


async def _http_error(request: Request, exc: Exception) -> Response:
    # Unknown paths and wrong methods still answer in the shape of the transport the client used.
    assert isinstance(exc, HTTPException)
    error: CalloutError
    if exc.status_code == 404:
        error = NotFound("Errors.Route.NotFound", "no such method or path")
    elif exc.status_code == 405:
        error = Unimplemented("Errors.Route.MethodNotAllowed", f"{request.method} is not allowed on this path")
    else:
        error = InvalidArgument("Errors.Request.Invalid", str(exc.detail))
    status = exc.status_code if exc.status_code in (404, 405) else error.kind.http_status
    is_rest = request.url.path.startswith(("/v1/", "/v2/", "/v2beta/"))
    body = rest_error_body(error) if is_rest else connect_error_body(error)
    headers = {"Allow": _allowed_methods(request)} if exc.status_code == 405 else None
    return JSONResponse(body, status_code=status, headers=headers)


def _allowed_methods(request: Request) -> str:
    # Each RPC is its own route, so Starlette's Allow names only the first route of the path.
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))
