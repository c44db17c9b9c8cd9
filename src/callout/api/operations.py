"""Operational endpoints: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from callout.api.transport import ApiState
from callout.errors import Unavailable


async def healthz(_request: Request) -> Response:
    """The process is up."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """The database answers."""
    state: ApiState = request.app.state.api
    try:
        await state.context.database.ping()
    except Unavailable as error:
        return JSONResponse({"status": "unavailable", "reason": error.detail}, status_code=503)
    return JSONResponse({"status": "ok"})


async def metrics(request: Request) -> Response:
    """Prometheus exposition of this application's metrics."""
    state: ApiState = request.app.state.api
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def mount_operations(app: FastAPI) -> None:
    """Add /healthz, /readyz and /metrics."""
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["operations"])
    app.add_api_route("/metrics", metrics, methods=["GET"], tags=["operations"])
