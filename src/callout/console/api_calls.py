"""Console reads and writes through the API's own RPCs, so a page behaves exactly like the API.

A change made from the console goes through ``invoke`` (api/rpc.py) with the signed-in principal:
the same permission check, the same validation and its messages (shown inline in forms), and the
same request and response executions around callout's own methods as a call over Connect or REST
(docs/console.md). Requests and answers are the API's JSON (protojson names, e.g. ``restCall``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from callout.api.action_service import action_rpcs, uncounted_list_targets_rpc
from callout.api.delivery_service import delivery_rpcs, uncounted_list_rpc
from callout.api.rpc import RpcRegistry, invoke
from callout.console.web import console_state
from callout.domain.console import SignedIn

ACTION_V2 = "zitadel.action.v2.ActionService"
DELIVERY_V1 = "callout.v1.DeliveryService"
_REGISTRY = RpcRegistry(action_rpcs() + delivery_rpcs())
# The console's lists of deliveries and targets page with Newer/Older and show no total: no count.
_UNCOUNTED = RpcRegistry([uncounted_list_rpc(), uncounted_list_targets_rpc()])


async def call_rpc(
    request: Request, signed_in: SignedIn, full_method: str, body: dict[str, Any], *, counted: bool = True
) -> dict[str, Any]:
    """Call ``full_method`` (``/zitadel.action.v2.ActionService/CreateTarget``) as the signed-in principal.

    ``counted=False`` calls a list's uncounted variant (``uncounted_list_rpc``), where one exists.
    Raises the API's ``CalloutError``s (``InvalidArgument`` with the field's message, ``PermissionDenied``…).
    """
    rpc = (None if counted else _UNCOUNTED.find(full_method)) or _REGISTRY.find(full_method)
    if rpc is None:
        raise LookupError(f"no RPC {full_method}")

    async def read_body() -> dict[str, Any]:
        return body

    context = console_state(request).context
    return await invoke(rpc, context, signed_in.principal, read_body, request.headers.items())


def action(name: str) -> str:
    """The full method of an ActionService v2 RPC, e.g. ``action("CreateTarget")``."""
    return f"/{ACTION_V2}/{name}"


def delivery(name: str) -> str:
    """The full method of a DeliveryService RPC, e.g. ``delivery("ListDeliveries")``."""
    return f"/{DELIVERY_V1}/{name}"
