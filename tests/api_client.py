"""Calling an RPC the way a client would, over Connect or REST, for tests that cover both transports."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class RestBinding:
    """Where an RPC lives in the REST mapping; each ``{name}`` is filled from (and popped off) the body."""

    method: str
    path: str


REST_BINDINGS = {
    "CreateTarget": RestBinding("POST", "/actions/targets"),
    "UpdateTarget": RestBinding("POST", "/actions/targets/{id}"),
    "DeleteTarget": RestBinding("DELETE", "/actions/targets/{id}"),
    "GetTarget": RestBinding("GET", "/actions/targets/{id}"),
    "ListTargets": RestBinding("POST", "/actions/targets/search"),
    "AddPublicKey": RestBinding("POST", "/actions/targets/{targetId}/publickeys"),
    "ActivatePublicKey": RestBinding("POST", "/actions/targets/{targetId}/publickeys/{keyId}/activate"),
    "DeactivatePublicKey": RestBinding("POST", "/actions/targets/{targetId}/publickeys/{keyId}/deactivate"),
    "RemovePublicKey": RestBinding("DELETE", "/actions/targets/{targetId}/publickeys/{keyId}"),
    "ListPublicKeys": RestBinding("POST", "/actions/targets/{targetId}/publickeys/search"),
    "SetExecution": RestBinding("PUT", "/actions/executions"),
    "ListExecutions": RestBinding("POST", "/actions/executions/search"),
    "ListExecutionFunctions": RestBinding("GET", "/actions/executions/functions"),
    "ListExecutionMethods": RestBinding("GET", "/actions/executions/methods"),
    "ListExecutionServices": RestBinding("GET", "/actions/executions/services"),
}
PATH_PARAMETER = re.compile(r"\{(\w+)\}")
TRANSPORTS = ["connect", "rest"]
VERSIONS = ["v2", "v2beta"]


@dataclass(frozen=True)
class RpcResult:
    """HTTP status and decoded JSON body of one call."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        """A 2xx status."""
        return 200 <= self.status < 300

    @property
    def error_id(self) -> str:
        """The stable message id of an error body (``Errors.Target.NotFound``), from either shape."""
        detail = self.body["details"][0]
        return str(detail["debug"]["id"] if "debug" in detail else detail["id"])


async def call_rpc(
    client: httpx.AsyncClient, transport: str, rpc: str, body: dict[str, Any], version: str = "v2"
) -> RpcResult:
    """Call ``rpc`` with ``body`` over the chosen transport and API version."""
    if transport == "connect":
        response = await client.post(f"/zitadel.action.{version}.ActionService/{rpc}", json=body)
    else:
        binding = REST_BINDINGS[rpc]
        rest_body = dict(body)
        # A missing or empty path parameter becomes a blank segment, which the server trims to empty.
        path = f"/{version}" + PATH_PARAMETER.sub(
            lambda match: str(rest_body.pop(match.group(1), "")) or "%20", binding.path
        )
        has_body = binding.method in ("POST", "PUT")
        response = await client.request(binding.method, path, json=rest_body if has_body else None)
    return RpcResult(response.status_code, response.json())
