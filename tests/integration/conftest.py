"""Fixtures of the integration tests that call RPCs: the transport parameter, Api factories, a dev-mode engine."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from callout.domain.auth import Role
from callout.services.context import ServiceContext
from tests.api_client import TRANSPORTS
from tests.conftest import MakeClient, MakePrincipal
from tests.integration.engine_support import Engine
from tests.integration.hostile_support import running_engine
from tests.integration.target_rpc_support import Api, MakeApi


@pytest.fixture(params=TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    """Every test runs over Connect and over REST."""
    return str(request.param)


@pytest.fixture
def make_api(make_principal: MakePrincipal, make_client: MakeClient, transport: str) -> MakeApi:
    """Factory: an Api for a role, in a new instance or a given one."""

    async def make(role: Role = Role.IAM_OWNER, instance_id: str | None = None) -> Api:
        principal, token = await make_principal(role, instance_id)
        return Api(make_client(token), transport, principal.instance_id)

    return make


@pytest.fixture
async def owner(make_api: MakeApi) -> Api:
    """An IAM_OWNER of a fresh instance."""
    return await make_api()


@pytest.fixture
async def dev_engine(context: ServiceContext, make_principal: MakePrincipal) -> AsyncIterator[Engine]:
    """An IAM_OWNER's engine: an app in development mode (loopback targets allowed) and loopback receivers."""
    async with running_engine(context, make_principal) as engine:
        yield engine
