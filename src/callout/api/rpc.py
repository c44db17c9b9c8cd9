"""The transport-neutral RPC: a named handler with a permission, invoked the same way by every adapter.

Order of checks for every call, as in ZITADEL: authentication (by the transport), authorization
(permission errors win over validation), then decoding and validation inside the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from callout.api.protojson import Fields
from callout.domain.auth import Permission, Principal
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

    @property
    def full_method(self) -> str:
        """The gRPC full method name with its leading slash."""
        return f"/{self.service}/{self.name}"


async def invoke(
    rpc: Rpc, context: ServiceContext, principal: Principal, read_body: Callable[[], Awaitable[object]]
) -> dict[str, Any]:
    """Authorize, then read, decode and run the handler; returns the response message as a dict.

    The body is read only after authorization so that a permission error wins over a malformed body.
    """
    authorize(principal, rpc.permission)
    body = await read_body()
    return await rpc.handler(RpcCall(context, principal, Fields(body)))


class RpcRegistry:
    """Every RPC callout serves, by full method name."""

    def __init__(self, rpcs: list[Rpc]) -> None:
        self._by_method = {rpc.full_method: rpc for rpc in rpcs}

    def find(self, full_method: str) -> Rpc | None:
        """Return the RPC with this full method name, or None."""
        return self._by_method.get(full_method)

    def __iter__(self) -> Any:
        return iter(self._by_method.values())
