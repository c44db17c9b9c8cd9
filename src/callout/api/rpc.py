"""The transport-neutral RPC: a named handler with a permission, invoked the same way by every adapter.

Order of checks for every call, as in ZITADEL: authentication (by the transport), authorization
(permission errors win over validation), then decoding and validation inside the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from callout.api.protojson import Fields, with_protojson_names
from callout.domain.auth import Permission, Principal
from callout.domain.messages import MessageShape
from callout.services import interception
from callout.services.auth import authorize
from callout.services.context import ServiceContext


@dataclass(frozen=True)
class RpcCall:
    """One invocation: who calls, with what request body, against which services."""

    context: ServiceContext
    principal: Principal
    request: Fields


Handler = Callable[[RpcCall], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Rpc:
    """A method of a service, e.g. ``/zitadel.action.v2.ActionService/GetTarget``."""

    service: str
    name: str
    permission: Permission
    handler: Handler
    # Dispatch RPCs run executions for host methods; wrapping them too would let an "all"
    # execution rewrite the dispatch call itself.
    intercept: bool = True
    # Top-level response fields holding secrets (a new signing key): response targets never see
    # them, and their answers can neither set nor change them (docs/target-answers.md).
    private_response_fields: tuple[str, ...] = ()
    # The request and response messages, when callout knows them: a rest_call answer replacing
    # either must fit it, as ZITADEL decodes answers with strict protojson (docs/differences.md).
    request_shape: MessageShape | None = None
    response_shape: MessageShape | None = None

    @property
    def full_method(self) -> str:
        """The gRPC full method name with its leading slash."""
        return f"/{self.service}/{self.name}"


async def invoke(
    rpc: Rpc,
    context: ServiceContext,
    principal: Principal,
    read_body: Callable[[], Awaitable[dict[str, Any]]],
    headers: Iterable[tuple[str, str]] = (),
) -> dict[str, Any]:
    """Authorize, run the request execution, decode and handle, run the response execution.

    As in ZITADEL's interceptor chain: authorization first (so a permission error wins over a
    malformed body), then request targets see the not yet validated request, the possibly replaced
    request is validated by the handler, and response targets see the handler's answer.
    """
    authorize(principal, rpc.permission)
    request = await read_body()
    if not rpc.intercept:
        return await rpc.handler(RpcCall(context, principal, Fields(request)))
    forwarded = interception.forwarded_headers(headers)
    # The request as ZITADEL's targets see it (docs/behaviour.md, Payload shapes).
    request = with_protojson_names(request)
    request = await interception.run_request_execution(
        context, principal, rpc.full_method, request, forwarded, shape=rpc.request_shape
    )
    response = await rpc.handler(RpcCall(context, principal, Fields(request)))
    return await interception.run_response_execution(
        context,
        principal,
        rpc.full_method,
        request,
        response,
        forwarded,
        private_fields=rpc.private_response_fields,
        shape=rpc.response_shape,
    )


class RpcRegistry:
    """Every RPC callout serves, by full method name."""

    def __init__(self, rpcs: list[Rpc]) -> None:
        self._by_method = {rpc.full_method: rpc for rpc in rpcs}

    def find(self, full_method: str) -> Rpc | None:
        """Return the RPC with this full method name, or None."""
        return self._by_method.get(full_method)

    def __iter__(self) -> Any:
        return iter(self._by_method.values())
