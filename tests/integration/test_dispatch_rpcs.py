"""The DispatchService RPCs over Connect against an in-process app: permissions, validation, no executions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from callout.domain.auth import Role
from tests.conftest import MakeClient, MakePrincipal
from tests.dispatch_support import ACTION, DISPATCH

METHOD = "/example.users.v1.UserService/CreateUser"
Call = Callable[[str, dict[str, Any]], Awaitable[httpx.Response]]
MakeCall = Callable[..., Awaitable[Call]]


@pytest.fixture
def make_call(make_principal: MakePrincipal, make_client: MakeClient) -> MakeCall:
    """Factory: call DispatchService (or ActionService, for a full ``/pkg.Svc/Rpc``) with a role's token."""

    async def make(role: Role = Role.IAM_OWNER) -> Call:
        _, token = await make_principal(role)
        client = make_client(token)

        async def call(rpc: str, body: dict[str, Any]) -> httpx.Response:
            path = rpc if rpc.startswith("/") else f"{DISPATCH}/{rpc}"
            return await client.post(path, json=body)

        return call

    return make


def _error_id(response: httpx.Response) -> str:
    return str(response.json()["details"][0]["debug"]["id"])


class TestPermissions:
    @pytest.mark.parametrize("rpc", ["RunRequestExecution", "RunResponseExecution", "RunFunction", "RegisterCatalog"])
    async def test_org_owner_is_denied(self, make_call: MakeCall, rpc: str) -> None:
        """An ORG_OWNER token gets 403 permission_denied on every Dispatch RPC."""
        call = await make_call(Role.ORG_OWNER)
        response = await call(rpc, {"method": METHOD, "name": "preuserinfo"})
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")

    @pytest.mark.parametrize("rpc", ["RunRequestExecution", "RunResponseExecution", "RunFunction", "RegisterCatalog"])
    async def test_viewer_is_denied(self, make_call: MakeCall, rpc: str) -> None:
        """An IAM_OWNER_VIEWER token gets 403 permission_denied on every Dispatch RPC."""
        call = await make_call(Role.IAM_OWNER_VIEWER)
        response = await call(rpc, {"method": METHOD, "name": "preuserinfo"})
        assert (response.status_code, response.json()["code"]) == (403, "permission_denied")

    async def test_missing_token_is_unauthenticated(self, make_client: MakeClient) -> None:
        """A call without a token gets 401 unauthenticated."""
        response = await make_client().post(f"{DISPATCH}/RunRequestExecution", json={"method": METHOD})
        assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")

    async def test_permission_is_checked_before_validation(self, make_call: MakeCall) -> None:
        """An invalid body from a caller without permission still gets 403."""
        call = await make_call(Role.ORG_OWNER)
        response = await call("RunRequestExecution", {"method": "nonsense", "request": 5})
        assert response.status_code == 403


class TestValidation:
    @pytest.mark.parametrize("method", ["CreateUser", "/CreateUser", "/pkg.Svc/", "pkg.Svc/CreateUser", ""])
    async def test_invalid_method_is_invalid_argument(self, make_call: MakeCall, method: str) -> None:
        """A method that is not ``/package.Service/Method`` gets 400 invalid_argument."""
        call = await make_call()
        response = await call("RunRequestExecution", {"method": method, "request": {}})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_argument")

    @pytest.mark.parametrize("request_value", [[1], "text", 5, True])
    async def test_request_that_is_not_an_object_is_invalid(self, make_call: MakeCall, request_value: Any) -> None:
        """A request that is not a JSON object gets 400 invalid_argument."""
        call = await make_call()
        response = await call("RunRequestExecution", {"method": METHOD, "request": request_value})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_argument")

    async def test_response_that_is_not_an_object_is_invalid(self, make_call: MakeCall) -> None:
        """A response that is not a JSON object gets 400 invalid_argument."""
        call = await make_call()
        response = await call("RunResponseExecution", {"method": METHOD, "request": {}, "response": [1]})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_argument")

    async def test_header_values_must_be_strings(self, make_call: MakeCall) -> None:
        """A header value that is not a string (or list of strings) gets 400 invalid_argument."""
        call = await make_call()
        body = {"method": METHOD, "request": {}, "headers": {"Origin": [1]}}
        assert (await call("RunRequestExecution", body)).status_code == 400

    async def test_function_needs_a_name(self, make_call: MakeCall) -> None:
        """RunFunction without a name gets 400 invalid_argument."""
        call = await make_call()
        response = await call("RunFunction", {"context": {}})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_argument")

    async def test_catalog_method_must_be_well_formed(self, make_call: MakeCall) -> None:
        """RegisterCatalog refuses a malformed method with Errors.Catalog.InvalidMethod."""
        call = await make_call()
        response = await call("RegisterCatalog", {"methods": ["no-slashes"]})
        assert (response.status_code, _error_id(response)) == (400, "Errors.Catalog.InvalidMethod")

    async def test_catalog_function_name_must_be_valid(self, make_call: MakeCall) -> None:
        """RegisterCatalog refuses a function name with a slash with Errors.Catalog.InvalidName."""
        call = await make_call()
        response = await call("RegisterCatalog", {"functions": ["a/b"]})
        assert (response.status_code, _error_id(response)) == (400, "Errors.Catalog.InvalidName")


class TestWithoutExecutions:
    async def test_request_is_returned_unchanged(self, make_call: MakeCall) -> None:
        """With no execution bound, RunRequestExecution returns the request as sent."""
        call = await make_call()
        response = await call("RunRequestExecution", {"method": METHOD, "request": {"name": "ada", "n": [1, 2]}})
        assert (response.status_code, response.json()) == (200, {"request": {"name": "ada", "n": [1, 2]}})

    async def test_response_is_returned_unchanged(self, make_call: MakeCall) -> None:
        """With no execution bound, RunResponseExecution returns the response as sent."""
        call = await make_call()
        body = {"method": METHOD, "request": {"name": "ada"}, "response": {"user": {"id": "1"}}}
        assert (await call("RunResponseExecution", body)).json() == {"response": {"user": {"id": "1"}}}

    async def test_function_result_is_empty(self, make_call: MakeCall) -> None:
        """With no execution bound, RunFunction merges no answers."""
        call = await make_call()
        response = await call("RunFunction", {"name": "preuserinfo", "context": {}})
        assert (response.status_code, response.json().get("result", {})) == (200, {})


class TestRegisterCatalog:
    async def test_registered_method_is_listed(self, make_call: MakeCall) -> None:
        """A registered method appears in ListExecutionMethods."""
        call = await make_call()
        await call("RegisterCatalog", {"methods": [METHOD]})
        listed = await call(f"{ACTION}/ListExecutionMethods", {})
        assert METHOD in listed.json()["methods"]

    async def test_registered_function_is_listed(self, make_call: MakeCall) -> None:
        """A registered function appears in ListExecutionFunctions."""
        call = await make_call()
        await call("RegisterCatalog", {"functions": ["prebilling"]})
        listed = await call(f"{ACTION}/ListExecutionFunctions", {})
        assert "prebilling" in listed.json()["functions"]

    async def test_registered_method_can_carry_an_execution(self, make_call: MakeCall) -> None:
        """SetExecution accepts a condition on a registered host method (it refuses it before)."""
        call = await make_call()
        target = await call(
            f"{ACTION}/CreateTarget",
            {"name": "t", "restWebhook": {}, "timeout": "5s", "endpoint": "https://hooks.example.com/x"},
        )
        execution = {"condition": {"request": {"method": METHOD}}, "targets": [target.json()["id"]]}
        before = await call(f"{ACTION}/SetExecution", execution)
        await call("RegisterCatalog", {"methods": [METHOD]})
        after = await call(f"{ACTION}/SetExecution", execution)
        assert (before.status_code, after.status_code) == (404, 200)

    async def test_registration_is_per_instance(self, make_call: MakeCall) -> None:
        """A method registered in one instance is not listed in another."""
        first, second = await make_call(), await make_call()
        await first("RegisterCatalog", {"methods": [METHOD]})
        listed = await second(f"{ACTION}/ListExecutionMethods", {})
        assert METHOD not in listed.json()["methods"]

    async def test_registration_answers_an_empty_object(self, make_call: MakeCall) -> None:
        """RegisterCatalog answers 200 with {}."""
        call = await make_call()
        response = await call("RegisterCatalog", {"methods": [METHOD], "functions": [], "events": ["user.added"]})
        assert (response.status_code, response.json()) == (200, {})
