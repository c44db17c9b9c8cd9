"""Factories and assertions shared by the target RPC tests (test_target_rpcs_*.py)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tests.api_client import RpcResult, call_rpc

ENDPOINT = "https://example.com"
MAX_ENDPOINT = {"v2": 2048, "v2beta": 1000}
KINDS = {  # request and (defaults omitted) response form of each target type
    "webhook": {"restWebhook": {}},
    "webhook-interrupt": {"restWebhook": {"interruptOnError": True}},
    "call": {"restCall": {}},
    "call-interrupt": {"restCall": {"interruptOnError": True}},
    "async": {"restAsync": {}},
}
TYPE_KEYS = ("restWebhook", "restCall", "restAsync")
ERRORS = {  # Connect code name -> (HTTP status, gRPC number used by REST)
    "invalid_argument": (400, 3),
    "unauthenticated": (401, 16),
    "permission_denied": (403, 7),
    "not_found": (404, 5),
    "already_exists": (409, 6),
}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?Z$")
SIGNING_KEY = re.compile(r"^[A-Za-z0-9]{36}$")


def parse_timestamp(text: str) -> datetime:
    """Check the protojson timestamp shape and return it as an aware datetime."""
    assert TIMESTAMP.match(text), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def target_body(kind: str = "webhook", **fields: Any) -> dict[str, Any]:
    """A valid CreateTargetRequest with a fresh name; a field given as None is left out."""
    body = {"name": f"target-{secrets.token_hex(4)}", **KINDS[kind], "timeout": "5s", "endpoint": ENDPOINT}
    body.update(fields)
    return {key: value for key, value in body.items() if value is not None}


def long_endpoint(length: int) -> str:
    """A valid https URL of exactly ``length`` characters."""
    prefix = ENDPOINT + "/"
    return prefix + "a" * (length - len(prefix))


def expect_error(result: RpcResult, transport: str, code: str, error_id: str | None = None) -> None:
    """Assert the HTTP status, the transport's error code and, if given, the message id."""
    status, number = ERRORS[code]
    expected = (status, code if transport == "connect" else number)
    assert (result.status, result.body.get("code")) == expected, result.body
    if error_id is not None:
        assert result.error_id == error_id


@dataclass(frozen=True)
class Created:
    """A CreateTarget response with the request that produced it."""

    id: str
    creation_date: str
    signing_key: str
    request: dict[str, Any]

    def expected(self, version: str) -> dict[str, Any]:
        """The exact protojson Target that Get/List must report for it while unchanged."""
        target = {
            "id": self.id,
            "creationDate": self.creation_date,
            "changeDate": self.creation_date,
            "name": self.request["name"],
            **{key: value for key, value in self.request.items() if key in TYPE_KEYS},
            "timeout": self.request["timeout"],
            "endpoint": self.request["endpoint"],
        }
        payload_type = self.request.get("payloadType", "PAYLOAD_TYPE_UNSPECIFIED")
        if version == "v2" and payload_type != "PAYLOAD_TYPE_UNSPECIFIED":
            target["payloadType"] = payload_type
        return target


@dataclass(frozen=True)
class Api:
    """One authenticated caller of one instance, bound to a transport."""

    client: httpx.AsyncClient
    transport: str
    instance_id: str

    async def call(self, rpc: str, body: dict[str, Any], version: str = "v2") -> RpcResult:
        """Call an RPC in the given API version."""
        return await call_rpc(self.client, self.transport, rpc, body, version)

    async def create(self, kind: str = "webhook", version: str = "v2", **fields: Any) -> Created:
        """Create a target that must succeed."""
        request = target_body(kind, **fields)
        result = await self.call("CreateTarget", request, version)
        assert result.ok, result.body
        return Created(result.body["id"], result.body["creationDate"], result.body["signingKey"], request)

    async def get(self, target_id: str, version: str = "v2") -> dict[str, Any]:
        """Get a target that must exist."""
        result = await self.call("GetTarget", {"id": target_id}, version)
        assert result.ok, result.body
        return dict(result.body["target"])

    async def list(self, body: dict[str, Any], version: str = "v2") -> dict[str, Any]:
        """List targets; the call must succeed."""
        result = await self.call("ListTargets", body, version)
        assert result.ok, result.body
        return result.body


MakeApi = Callable[..., Awaitable[Api]]
