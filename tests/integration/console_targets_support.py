"""Helpers for the Targets pages' HTTP tests: a signed-in console of one role, and targets made fast."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from callout.domain.auth import Principal, Role
from callout.domain.ids import new_id
from callout.domain.targets import PayloadType, Target, TargetSpec, TargetType
from callout.services import targets as target_service
from callout.services.context import ServiceContext
from callout.storage.schema import targets as targets_table
from callout.storage.targets import _to_row
from tests.conftest import MakePrincipal
from tests.integration.console_support import MakeConsoleClient, sign_in

SIGNING_KEY = re.compile(r"[A-Za-z0-9]{36}")
ENDPOINT = "https://example.com/hook"


@dataclass
class Console:
    """A signed-in console client with its CSRF token, for one role of one instance."""

    client: httpx.AsyncClient
    csrf: str
    principal: Principal
    context: ServiceContext

    async def post(self, path: str, **fields: str) -> httpx.Response:
        """POST a console form with the session's CSRF token."""
        return await self.client.post(path, data={"csrf_token": self.csrf, **fields})

    async def create(self, name: str | None = None, **fields: str) -> httpx.Response:
        """Submit the New target form (a webhook to example.com, 10 s, JSON unless given)."""
        values = {
            "name": f"hook-{secrets.token_hex(4)}" if name is None else name,
            "endpoint": ENDPOINT,
            "timeout": "10",
        }
        values |= {"target_type": "restWebhook", "payload_type": "PAYLOAD_TYPE_JSON", **fields}
        return await self.post("/console/targets", **values)

    async def add_target(self, name: str | None = None, endpoint: str = ENDPOINT) -> tuple[str, str]:
        """A target made through the service; returns (id, signing key)."""
        spec = TargetSpec(
            name or f"hook-{secrets.token_hex(4)}", TargetType.WEBHOOK, False, timedelta(seconds=2), endpoint
        )
        target, key = await target_service.create_target(self.context, self.principal, spec)
        return target.id, key


MakeConsole = Callable[..., Awaitable[Console]]


@pytest.fixture
def make_console(
    console_client: MakeConsoleClient, make_principal: MakePrincipal, context: ServiceContext
) -> MakeConsole:
    """Factory: a signed-in Console for a role, in a new instance or a given one."""

    async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> Console:
        principal, token = await make_principal(role, instance_id)
        client = console_client()
        return Console(client, await sign_in(client, token), principal, context)

    return make


async def insert_many_targets(context: ServiceContext, instance_id: str, count: int) -> None:
    """Store ``count`` targets named ``bulk-00000``… in one statement (no per-target key: listing needs none)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for index in range(count):
        made = start + timedelta(seconds=index)
        target = Target(
            new_id(), instance_id, f"bulk-{index:05d}", TargetType.WEBHOOK, False, timedelta(seconds=5),
            ENDPOINT, PayloadType.JSON, made, made,
        )  # fmt: skip
        rows.append(_to_row(target))

    async def insert(conn: Any) -> None:
        await conn.execute(targets_table.insert(), rows)

    await context.database.write(insert)


def rsa_public_pem() -> str:
    """A fresh RSA public key as PEM text."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def target_id_in(page: httpx.Response) -> str:
    """The target id a one-time key page links to."""
    match = re.search(r'/console/targets/([0-9A-Za-z_-]+)"', page.text)
    assert match is not None, page.text
    return match.group(1)
