"""REST in the grpc-gateway mapping (``/v2/actions/...``), google.rpc.Status error shape."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from callout.api.action_service import V2_SERVICE, V2BETA_SERVICE
from callout.api.bodies import reject_unstorable_strings
from callout.api.delivery_service import DELIVERY_SERVICE
from callout.api.errors import rest_error_body, rest_http_status
from callout.api.rpc import Rpc, RpcRegistry
from callout.api.transport import ApiState, Transport, handle_rpc, read_json_object

REST = Transport("rest", rest_error_body, rest_http_status)


@dataclass(frozen=True)
class RestRoute:
    """One grpc-gateway binding: HTTP method and path template onto an RPC."""

    method: str
    path: str
    rpc_name: str
    has_body: bool


# Order matters: ".../targets/search" must be matched before ".../targets/{id}".
_ROUTES = (
    RestRoute("POST", "/actions/targets", "CreateTarget", True),
    RestRoute("POST", "/actions/targets/search", "ListTargets", True),
    RestRoute("POST", "/actions/targets/{id}", "UpdateTarget", True),
    RestRoute("DELETE", "/actions/targets/{id}", "DeleteTarget", False),
    RestRoute("GET", "/actions/targets/{id}", "GetTarget", False),
    RestRoute("POST", "/actions/targets/{targetId}/publickeys", "AddPublicKey", True),
    RestRoute("POST", "/actions/targets/{targetId}/publickeys/search", "ListPublicKeys", True),
    RestRoute("POST", "/actions/targets/{targetId}/publickeys/{keyId}/activate", "ActivatePublicKey", False),
    RestRoute("POST", "/actions/targets/{targetId}/publickeys/{keyId}/deactivate", "DeactivatePublicKey", False),
    RestRoute("DELETE", "/actions/targets/{targetId}/publickeys/{keyId}", "RemovePublicKey", False),
    RestRoute("PUT", "/actions/executions", "SetExecution", True),
    RestRoute("POST", "/actions/executions/search", "ListExecutions", True),
    RestRoute("GET", "/actions/executions/functions", "ListExecutionFunctions", False),
    RestRoute("GET", "/actions/executions/methods", "ListExecutionMethods", False),
    RestRoute("GET", "/actions/executions/services", "ListExecutionServices", False),
)
_DELIVERY_ROUTES = (
    RestRoute("POST", "/deliveries/search", "ListDeliveries", True),
    RestRoute("POST", "/deliveries/redeliver_failed", "RedeliverFailed", True),
    RestRoute("GET", "/deliveries/{id}", "GetDelivery", False),
    RestRoute("POST", "/deliveries/{id}/redeliver", "RedeliverDelivery", False),
    RestRoute("POST", "/targets/{targetId}/test", "TestTarget", False),
)
_BINDINGS = (
    ("/v2", V2_SERVICE, _ROUTES),
    ("/v2beta", V2BETA_SERVICE, _ROUTES),
    ("/v1", DELIVERY_SERVICE, _DELIVERY_ROUTES),
)


def _body_reader(route: RestRoute) -> Any:
    async def read(request: Request) -> dict[str, Any]:
        state: ApiState = request.app.state.api
        body = await read_json_object(request, state.max_body_bytes) if route.has_body else {}
        # Path parameters win over body fields, as in grpc-gateway.
        reject_unstorable_strings(request.path_params)
        return {**body, **request.path_params}

    return read


def _endpoint(route: RestRoute, rpc: Rpc) -> Any:
    reader = _body_reader(route)

    async def rest_endpoint(request: Request) -> Response:
        return await handle_rpc(request, rpc, REST, reader)

    return rest_endpoint


def mount_rest(app: FastAPI, registry: RpcRegistry) -> None:
    """Add the REST bindings of every service version that is registered."""
    for prefix, service, routes in _BINDINGS:
        for route in routes:
            rpc = registry.find(f"/{service}/{route.rpc_name}")
            if rpc is None:
                continue
            app.add_api_route(
                prefix + route.path,
                _endpoint(route, rpc),
                methods=[route.method],
                name=f"rest:{prefix}:{route.rpc_name}",
                tags=[f"rest {prefix}"],
                summary=route.rpc_name,
            )
