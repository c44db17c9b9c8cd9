"""Bursts of concurrent RPCs against the in-process app, and what every burst must leave behind.

Shared by the test_concurrency*.py modules. Every call goes through Connect JSON over httpx's ASGI
transport, so the whole stack (transport, services, storage) runs as in production; each burst is
``BURST`` calls started together, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from callout.domain.auth import Principal, Role
from callout.services import executions as execution_service
from callout.services.context import ServiceContext
from callout.storage.events import list_events
from tests.conftest import MakeClient, MakePrincipal

BURST = 50
ACTION = "/zitadel.action.v2.ActionService"
DISPATCH = "/callout.v1.DispatchService"
DELIVERY = "/callout.v1.DeliveryService"
EVENT_TYPE = "order.paid"


@dataclass(frozen=True)
class Answer:
    """One call's HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


@dataclass
class Caller:
    """An owner of a fresh instance (with EVENT_TYPE declared) and an HTTP client authenticated as them."""

    client: httpx.AsyncClient
    principal: Principal
    context: ServiceContext

    async def call(self, path: str, body: dict[str, Any]) -> Answer:
        """One Connect call."""
        response = await self.client.post(path, json=body)
        return Answer(response.status_code, response.json())

    async def burst(self, path: str, bodies: list[dict[str, Any]]) -> list[Answer]:
        """All calls at once; no answer may be a 5xx."""
        return await self.mixed_burst([(path, body) for body in bodies])

    async def mixed_burst(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Answer]:
        """All calls (path, body) at once; no answer may be a 5xx."""
        answers = await asyncio.gather(*(self.call(path, body) for path, body in calls))
        failures = [answer for answer in answers if answer.status >= 500]
        assert failures == [], failures[:3]
        return list(answers)

    async def must(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """One call that must succeed; its body."""
        answer = await self.call(path, body)
        assert answer.status == 200, answer.body
        return answer.body

    async def new_target(self, name: str | None = None) -> str:
        """A webhook target's id."""
        body = {"name": name or f"t-{secrets.token_hex(4)}", "restWebhook": {}, "timeout": "5s"}
        created = await self.must(f"{ACTION}/CreateTarget", {**body, "endpoint": "https://example.com/hook"})
        return str(created["id"])

    async def new_key(self, target_id: str) -> str:
        """A fresh (inactive) public key of the target; its id."""
        added = await self.must(f"{ACTION}/AddPublicKey", {"targetId": target_id, "publicKey": public_key()})
        return str(added["keyId"])

    async def sequences(self, aggregate_id: str) -> list[int]:
        """The stored sequences of an aggregate, in write order."""
        async with self.context.database.read() as conn:
            events = await list_events(conn, self.principal.instance_id, aggregate_id)
        return [event.sequence for event in events]


async def new_caller(context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient) -> Caller:
    """A Caller of a new instance that declared EVENT_TYPE."""
    principal, token = await make_principal(Role.IAM_OWNER)
    await execution_service.register_catalog(context, principal, [], [], [EVENT_TYPE])
    return Caller(make_client(token), principal, context)


def public_key() -> str:
    """A fresh P-256 public key as protojson bytes (base64 of the PEM)."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(pem).decode()


def statuses(answers: list[Answer]) -> Counter[int]:
    """How many answers had each status."""
    return Counter(answer.status for answer in answers)


def event(aggregate_id: str, **extra: Any) -> dict[str, Any]:
    """A pushable EVENT_TYPE event of an ``order`` aggregate."""
    return {"aggregateType": "order", "aggregateId": aggregate_id, "eventType": EVENT_TYPE, "payload": {}, **extra}
