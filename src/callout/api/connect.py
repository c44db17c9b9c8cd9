"""Connect unary JSON: ``POST /<package.Service>/<Method>`` with a JSON body, Connect error shape.

The official Python SDK sends no ``Connect-Protocol-Version`` header, so none is required.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from callout.api.errors import connect_error_body
from callout.api.rpc import Rpc, RpcRegistry
from callout.api.transport import ApiState, Transport, handle_rpc, read_json_object
from callout.errors import InvalidArgument

CONNECT = Transport("connect", connect_error_body)


async def _read_connect_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and not (content_type == "application/json" or content_type.endswith("+json")):
        raise InvalidArgument("Errors.Request.UnsupportedCodec", "only application/json is supported")
    state: ApiState = request.app.state.api
    return await read_json_object(request, state.max_body_bytes)


def _endpoint(rpc: Rpc) -> Any:
    async def connect_endpoint(request: Request) -> Response:
        return await handle_rpc(request, rpc, CONNECT, _read_connect_body)

    return connect_endpoint


def mount_connect(app: FastAPI, registry: RpcRegistry) -> None:
    """Add one POST route per RPC."""
    for rpc in registry:
        app.add_api_route(
            rpc.full_method,
            _endpoint(rpc),
            methods=["POST"],
            name=f"connect:{rpc.service}.{rpc.name}",
            tags=[f"connect {rpc.service}"],
            summary=rpc.name,
            openapi_extra=_JSON_BODY,
        )


_JSON_BODY: dict[str, Any] = {
    "requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
}
