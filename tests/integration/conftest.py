"""Fixtures of the integration tests that call RPCs: the transport parameter and Api factories."""

from __future__ import annotations

import pytest

from callout.domain.auth import Role
from tests.api_client import TRANSPORTS
from tests.conftest import MakeClient, MakePrincipal
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
