"""Operational endpoints on the API port: liveness and readiness (metrics have a listener of their own)."""

from __future__ import annotations

from fastapi import FastAPI
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


def mount_operations(app: FastAPI) -> None:
    """Add /healthz and /readyz."""
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["operations"])
