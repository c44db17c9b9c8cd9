"""Shared fixtures: every storage-touching test runs on SQLite and on PostgreSQL.

Fixtures are factories. PostgreSQL tests get a schema of their own in the database named by
``CALLOUT_TEST_POSTGRES_URL`` (default: the local server, database ``test``); under ``CI=true`` an
unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, settings

from callout.api.app import create_app
from callout.delivery.http import AiohttpSender
from callout.delivery.resolvers import StaticResolver
from callout.domain.auth import Principal, Role
from callout.domain.egress import EgressPolicy
from callout.services import instances as admin
from callout.services.auth import authenticate
from callout.services.context import ServiceContext
from callout.services.secrets import SecretBox
from callout.storage.database import Database
from callout.storage.migrations import upgrade_to_head

# Examples are judged by their outcome, never by how long they take: the suite runs test files in
# parallel processes on shared machines, where a 200 ms per-example deadline fails at random.
settings.register_profile("callout", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("callout")

POSTGRES_URL = os.environ.get("CALLOUT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ["sqlite", "postgresql"]


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _postgres_available() -> bool:
    try:
        psycopg.connect(_libpq_url(POSTGRES_URL), connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_ready() -> bool:
    """Whether PostgreSQL can be used; in CI it must be."""
    available = _postgres_available()
    if not available and os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true but {POSTGRES_URL} is unreachable")
    return available


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: object, postgres_ready: bool) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/callout.db"
        return
    if not postgres_ready:
        pytest.skip("PostgreSQL is not reachable")
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(_libpq_url(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
async def context(database_url: str) -> AsyncIterator[ServiceContext]:
    """Services on a migrated, empty database."""
    database = Database(database_url)
    await upgrade_to_head(database)
    # A static resolver: in-process tests never send DNS queries off this machine.
    resolver = StaticResolver()
    sender = AiohttpSender(EgressPolicy(), resolver)
    secret_box = SecretBox(secrets.token_bytes(32))
    yield ServiceContext(database=database, secret_box=secret_box, resolver=resolver, sender=sender)
    await sender.close()
    await database.close()


MakePrincipal = Callable[..., Awaitable[tuple[Principal, str]]]


@pytest.fixture
def make_principal(context: ServiceContext) -> MakePrincipal:
    """Factory: a token (and its principal) with a role, in a given or a new instance."""

    async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> tuple[Principal, str]:
        if instance_id is None:
            instance_id = (
                await admin.create_instance(context, f"instance-{secrets.token_hex(3)}", with_web_key=False)
            ).id
        _, token = await admin.create_token(context, instance_id, role)
        return await authenticate(context, f"Bearer {token}"), token

    return make


MakeClient = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(context: ServiceContext) -> AsyncIterator[MakeClient]:
    """Factory: an HTTP client talking to an in-process app, authenticated with the given token."""
    app = create_app(context)
    clients: list[httpx.AsyncClient] = []

    def make(token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://callout.test", headers=headers
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
