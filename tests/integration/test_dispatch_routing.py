"""GetRouting: the routing snapshot host middlewares cache, its version and its long poll (docs/host-middleware.md).

Runs against an in-process app on SQLite and PostgreSQL; executions are set through the services.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from callout.domain.auth import Principal, Role
from callout.domain.executions import Condition, ConditionType
from callout.domain.targets import TargetSpec, TargetType
from callout.services.context import ServiceContext
from callout.services.executions import register_catalog, set_execution
from callout.services.targets import create_target
from tests.conftest import MakeClient, MakePrincipal
from tests.dispatch_support import DISPATCH

SERVICE = "example.users.v1.UserService"
METHOD = f"/{SERVICE}/CreateUser"


class Host:
    """An IAM_OWNER of a fresh instance: it binds executions and asks for its routing."""

    def __init__(self, context: ServiceContext, principal: Principal, http: httpx.AsyncClient) -> None:
        self.context = context
        self.principal = principal
        self.http = http

    async def routing(self, **body: Any) -> httpx.Response:
        """Call GetRouting (services default to SERVICE)."""
        return await self.http.post(f"{DISPATCH}/GetRouting", json={"services": [SERVICE], **body})

    async def bind(self, condition: Condition, *, interrupt: bool = False, kind: TargetType = TargetType.CALL) -> None:
        """Bind a new target to the condition."""
        methods = [METHOD, "/other.v1.Svc/Do"]
        await register_catalog(self.context, self.principal, methods=methods, functions=[], events=[])
        spec = TargetSpec(f"t-{secrets.token_hex(4)}", kind, interrupt, timedelta(seconds=5), "https://example.com")
        target, _ = await create_target(self.context, self.principal, spec)
        await set_execution(self.context, self.principal, condition, [target.id])


MakeHost = Callable[..., Awaitable[Host]]


@pytest.fixture
def make_host(context: ServiceContext, make_principal: MakePrincipal, make_client: MakeClient) -> MakeHost:
    """Factory: a host of a new instance holding a token of ``role``."""

    async def make(role: Role = Role.IAM_OWNER) -> Host:
        principal, token = await make_principal(role)
        return Host(context, principal, make_client(token))

    return make


def executions(response: httpx.Response) -> dict[str, bool]:
    """The snapshot's execution ids and whether each interrupts."""
    assert response.status_code == 200, response.text
    return {item["id"]: item["interruptOnError"] for item in response.json()["executions"]}


class TestSnapshot:
    async def test_nothing_bound_is_empty(self, make_host: MakeHost) -> None:
        """An instance without executions answers no executions and a version."""
        response = await (await make_host()).routing()
        assert executions(response) == {}
        assert response.json()["version"].isdigit()

    async def test_method_execution_is_listed_with_interrupt(self, make_host: MakeHost) -> None:
        """A method's request execution with an interrupting target is listed as interrupting."""
        host = await make_host()
        await host.bind(Condition(ConditionType.REQUEST, method=METHOD), interrupt=True)
        assert executions(await host.routing()) == {f"request{METHOD}": True}

    async def test_service_and_all_executions_are_listed(self, make_host: MakeHost) -> None:
        """Service-level and `all` executions concern the service; they are listed as not interrupting."""
        host = await make_host()
        await host.bind(Condition(ConditionType.RESPONSE, service=SERVICE))
        await host.bind(Condition(ConditionType.REQUEST, all=True))
        assert executions(await host.routing()) == {f"response/{SERVICE}": False, "request": False}

    async def test_other_services_and_functions_are_left_out(self, make_host: MakeHost) -> None:
        """Executions of another service and function executions are not in the snapshot."""
        host = await make_host()
        await host.bind(Condition(ConditionType.REQUEST, method="/other.v1.Svc/Do"), interrupt=True)
        await host.bind(Condition(ConditionType.FUNCTION, name="preuserinfo"))
        assert executions(await host.routing()) == {}

    async def test_async_target_never_interrupts(self, make_host: MakeHost) -> None:
        """A chain of a rest_async target is not interrupting (it is never waited for)."""
        host = await make_host()
        await host.bind(Condition(ConditionType.REQUEST, method=METHOD), kind=TargetType.ASYNC)
        assert executions(await host.routing()) == {f"request{METHOD}": False}


class TestVersion:
    async def test_a_change_moves_the_version(self, make_host: MakeHost) -> None:
        """Setting an execution changes the version the next snapshot carries."""
        host = await make_host()
        before = (await host.routing()).json()["version"]
        await host.bind(Condition(ConditionType.REQUEST, method=METHOD))
        assert (await host.routing()).json()["version"] != before

    async def test_long_poll_answers_when_the_version_moves(self, make_host: MakeHost) -> None:
        """A poll holding the current version answers with the new snapshot once an execution is set."""
        host = await make_host()
        version = (await host.routing()).json()["version"]
        poll = asyncio.create_task(host.routing(version=version, wait="20s"))
        await asyncio.sleep(0.3)
        await host.bind(Condition(ConditionType.REQUEST, method=METHOD))
        response = await asyncio.wait_for(poll, timeout=10)
        assert response.json()["version"] != version
        assert executions(response) == {f"request{METHOD}": False}

    async def test_long_poll_without_change_answers_the_same_version(self, make_host: MakeHost) -> None:
        """A poll whose wait ends without a change answers the version it was given."""
        host = await make_host()
        version = (await host.routing()).json()["version"]
        assert (await host.routing(version=version, wait="0.3s")).json()["version"] == version

    async def test_stale_version_answers_at_once(self, make_host: MakeHost) -> None:
        """A poll holding an old version gets the current snapshot without waiting."""
        host = await make_host()
        await host.bind(Condition(ConditionType.REQUEST, method=METHOD))
        response = await asyncio.wait_for(host.routing(version="0", wait="20s"), timeout=5)
        assert executions(response) == {f"request{METHOD}": False}


class TestRefusals:
    async def test_no_service_is_invalid(self, make_host: MakeHost) -> None:
        """A call naming no service gets 400 invalid_argument."""
        response = await (await make_host()).routing(services=[])
        assert (response.status_code, response.json()["code"]) == (400, "invalid_argument")

    async def test_org_owner_is_denied(self, make_host: MakeHost) -> None:
        """An ORG_OWNER token gets 403 permission_denied."""
        response = await (await make_host(Role.ORG_OWNER)).routing()
        assert response.status_code == 403


class TestHostileRequests:
    @pytest.mark.parametrize(
        "body",
        [
            {"services": "example.users.v1.UserService"},
            {"services": [1, 2]},
            {"services": [SERVICE], "wait": "forever"},
            {"services": [SERVICE], "wait": -5},
            {"services": [SERVICE], "version": "abc"},
            {"services": [SERVICE], "version": -1},
            {"services": ["x" * 100_000]},
        ],
    )
    async def test_malformed_fields_are_invalid_argument(self, make_host: MakeHost, body: dict[str, Any]) -> None:
        """Wrong types, negative or unparsable values and oversized names are 400 invalid_argument, never a 5xx."""
        host = await make_host()
        response = await host.http.post(f"{DISPATCH}/GetRouting", json=body)
        assert (response.status_code, response.json()["code"]) == (400, "invalid_argument"), response.text
