"""Who may call which target RPC: roles, tokens, the order of checks and the actions feature.

See docs/security.md, Roles and permissions.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from callout.domain.auth import Role
from callout.services import instances as admin
from callout.services.context import ServiceContext
from tests.api_client import TRANSPORTS, VERSIONS, RpcResult, call_rpc
from tests.conftest import MakeClient, MakePrincipal

RPCS = ["CreateTarget", "UpdateTarget", "DeleteTarget", "GetTarget", "ListTargets"]
WRITE_RPCS = ["CreateTarget", "UpdateTarget", "DeleteTarget"]
READ_RPCS = ["GetTarget", "ListTargets"]
ALLOWED = {
    Role.IAM_OWNER: set(RPCS),
    Role.IAM_OWNER_VIEWER: set(READ_RPCS),
    Role.ORG_OWNER: set(),
}
GRPC_CODES = {"unauthenticated": 16, "permission_denied": 7, "failed_precondition": 9, "invalid_argument": 3}
VALID_CREATE: dict[str, Any] = {
    "name": "hook",
    "restWebhook": {},
    "timeout": "10s",
    "endpoint": "https://example.com/hook",
}


def _request(rpc: str, target_id: str) -> dict[str, Any]:
    """A request that succeeds for a caller allowed to make it."""
    return {
        "CreateTarget": {**VALID_CREATE, "name": "another"},
        "UpdateTarget": {"id": target_id, "name": "renamed"},
        "DeleteTarget": {"id": target_id},
        "GetTarget": {"id": target_id},
        "ListTargets": {},
    }[rpc]


def assert_error(result: RpcResult, transport: str, status: int, code: str, case: object = None) -> None:
    """The result is an error of this status and code, in the transport's shape."""
    assert result.status == status, (case, result.body)
    expected: str | int = code if transport == "connect" else GRPC_CODES[code]
    assert result.body["code"] == expected, (case, result.body)
    assert isinstance(result.body["message"], str)
    assert isinstance(result.body["details"], list)


async def _instance_with_target(make_principal: MakePrincipal, make_client: MakeClient) -> tuple[str, str]:
    """A new instance holding one target; returns the instance id and the target id."""
    owner, token = await make_principal(Role.IAM_OWNER)
    result = await call_rpc(make_client(token), "connect", "CreateTarget", VALID_CREATE)
    assert result.ok, result.body
    return owner.instance_id, str(result.body["id"])


async def _client_with_role(
    make_principal: MakePrincipal, make_client: MakeClient, role: Role
) -> tuple[httpx.AsyncClient, str]:
    """A client of the given role in an instance that holds one target, and that target's id."""
    instance_id, target_id = await _instance_with_target(make_principal, make_client)
    _, token = await make_principal(role, instance_id)
    return make_client(token), target_id


@pytest.mark.parametrize("transport", TRANSPORTS)
class TestRoleMatrix:
    @pytest.mark.parametrize("role", [Role.IAM_OWNER, Role.IAM_OWNER_VIEWER])
    async def test_permitted_rpcs_succeed(
        self, transport: str, role: Role, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """IAM_OWNER may call every target RPC and IAM_OWNER_VIEWER the reading ones."""
        for rpc in RPCS:
            if rpc not in ALLOWED[role]:
                continue
            client, target_id = await _client_with_role(make_principal, make_client, role)
            result = await call_rpc(client, transport, rpc, _request(rpc, target_id))
            assert result.ok, (rpc, result.body)

    @pytest.mark.parametrize("role", [Role.IAM_OWNER_VIEWER, Role.ORG_OWNER])
    async def test_unpermitted_rpcs_are_permission_denied(
        self, transport: str, role: Role, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """IAM_OWNER_VIEWER writing and ORG_OWNER calling anything is PermissionDenied Errors.Permission.Denied."""
        client, target_id = await _client_with_role(make_principal, make_client, role)
        for rpc in RPCS:
            if rpc in ALLOWED[role]:
                continue
            result = await call_rpc(client, transport, rpc, _request(rpc, target_id))
            assert_error(result, transport, 403, "permission_denied", rpc)
            assert result.error_id == "Errors.Permission.Denied"

    async def test_v2beta_applies_the_same_permissions(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Over v2beta an ORG_OWNER is refused every target RPC as over v2."""
        client, target_id = await _client_with_role(make_principal, make_client, Role.ORG_OWNER)
        for rpc in RPCS:
            result = await call_rpc(client, transport, rpc, _request(rpc, target_id), "v2beta")
            assert_error(result, transport, 403, "permission_denied", rpc)

    async def test_denied_writes_change_nothing(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A viewer's refused create, update and delete leave the instance's targets as they were."""
        instance_id, target_id = await _instance_with_target(make_principal, make_client)
        _, viewer_token = await make_principal(Role.IAM_OWNER_VIEWER, instance_id)
        viewer = make_client(viewer_token)
        before = await call_rpc(viewer, transport, "ListTargets", {})
        for rpc in WRITE_RPCS:
            assert (await call_rpc(viewer, transport, rpc, _request(rpc, target_id))).status == 403
        assert await call_rpc(viewer, transport, "ListTargets", {}) == before


@pytest.mark.parametrize("transport", TRANSPORTS)
class TestTokens:
    async def test_missing_token_is_unauthenticated(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Every target RPC called without an Authorization header is Unauthenticated (401)."""
        anonymous = make_client(None)
        for rpc in RPCS:
            result = await call_rpc(anonymous, transport, rpc, _request(rpc, "1"))
            assert_error(result, transport, 401, "unauthenticated", rpc)

    async def test_unknown_token_is_unauthenticated(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A bearer token that was never issued is Unauthenticated."""
        await make_principal(Role.IAM_OWNER)
        result = await call_rpc(make_client("co_not-a-real-token"), transport, "ListTargets", {})
        assert_error(result, transport, 401, "unauthenticated")

    async def test_revoked_token_is_unauthenticated(
        self, context: ServiceContext, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A token stops working as soon as it is revoked."""
        principal, token = await make_principal(Role.IAM_OWNER)
        client = make_client(token)
        assert (await call_rpc(client, transport, "ListTargets", {})).ok
        await admin.revoke_token(context, principal.token_id)
        result = await call_rpc(client, transport, "ListTargets", {})
        assert_error(result, transport, 401, "unauthenticated")

    async def test_basic_scheme_is_unauthenticated(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A valid token sent with the Basic scheme instead of Bearer is Unauthenticated."""
        _, token = await make_principal(Role.IAM_OWNER)
        client = make_client(None)
        client.headers["Authorization"] = f"Basic {token}"
        result = await call_rpc(client, transport, "ListTargets", {})
        assert_error(result, transport, 401, "unauthenticated")

    async def test_malformed_authorization_header_is_unauthenticated(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """An Authorization header without a bearer token in it is Unauthenticated."""
        client = make_client(None)
        for header in ["Bearer", "Bearer ", "Bearer    ", "Token abc", "co_abc"]:
            client.headers["Authorization"] = header
            result = await call_rpc(client, transport, "ListTargets", {})
            assert_error(result, transport, 401, "unauthenticated", header)

    async def test_revoking_one_token_leaves_the_others_working(
        self, context: ServiceContext, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Revoking one token leaves the other tokens of the instance working."""
        principal, _ = await make_principal(Role.IAM_OWNER)
        _, other_token = await make_principal(Role.IAM_OWNER, principal.instance_id)
        await admin.revoke_token(context, principal.token_id)
        result = await call_rpc(make_client(other_token), transport, "ListTargets", {})
        assert result.ok, result.body

    async def test_unauthenticated_wins_over_a_malformed_body(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A request without a token and with a broken body is Unauthenticated, not InvalidArgument."""
        anonymous = make_client(None)
        path = "/zitadel.action.v2.ActionService/CreateTarget" if transport == "connect" else "/v2/actions/targets"
        response = await anonymous.post(path, content=b"{not json", headers={"content-type": "application/json"})
        assert_error(RpcResult(response.status_code, response.json()), transport, 401, "unauthenticated")


@pytest.mark.parametrize("transport", TRANSPORTS)
class TestPermissionBeforeValidation:
    async def test_permission_error_wins_over_malformed_json(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """An ORG_OWNER sending broken JSON to any RPC with a body gets PermissionDenied."""
        client, _ = await _client_with_role(make_principal, make_client, Role.ORG_OWNER)
        for rpc, path in [
            ("CreateTarget", "/v2/actions/targets"),
            ("UpdateTarget", "/v2/actions/targets/1"),
            ("ListTargets", "/v2/actions/targets/search"),
        ]:
            url = f"/zitadel.action.v2.ActionService/{rpc}" if transport == "connect" else path
            response = await client.post(url, content=b'{"name": ', headers={"content-type": "application/json"})
            assert_error(RpcResult(response.status_code, response.json()), transport, 403, "permission_denied", rpc)

    async def test_permission_error_wins_over_invalid_fields(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A viewer creating a target with two target types and no timeout gets PermissionDenied."""
        client, _ = await _client_with_role(make_principal, make_client, Role.IAM_OWNER_VIEWER)
        body = {"name": 5, "restWebhook": {}, "restCall": {}, "endpoint": "not a url"}
        result = await call_rpc(client, transport, "CreateTarget", body)
        assert_error(result, transport, 403, "permission_denied")

    async def test_permission_error_wins_over_an_oversized_body(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A viewer sending a body over 1 MiB to CreateTarget gets PermissionDenied, not ResourceExhausted."""
        client, _ = await _client_with_role(make_principal, make_client, Role.IAM_OWNER_VIEWER)
        url = "/zitadel.action.v2.ActionService/CreateTarget" if transport == "connect" else "/v2/actions/targets"
        content = b"{" + b" " * (1024 * 1024) + b"}"
        response = await client.post(url, content=content, headers={"content-type": "application/json"})
        assert_error(RpcResult(response.status_code, response.json()), transport, 403, "permission_denied")

    async def test_permission_error_wins_over_not_found(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A viewer updating a target that does not exist gets PermissionDenied, not NotFound."""
        client, _ = await _client_with_role(make_principal, make_client, Role.IAM_OWNER_VIEWER)
        result = await call_rpc(client, transport, "UpdateTarget", {"id": "999", "name": "x"})
        assert_error(result, transport, 403, "permission_denied")


@pytest.mark.parametrize("transport", TRANSPORTS)
class TestActionsFeature:
    @pytest.mark.parametrize("version", VERSIONS)
    async def test_every_rpc_is_failed_precondition_when_disabled(
        self,
        context: ServiceContext,
        transport: str,
        version: str,
        make_principal: MakePrincipal,
        make_client: MakeClient,
    ) -> None:
        """With the actions feature off every target RPC is FailedPrecondition Errors.Action.NotEnabled (400)."""
        instance_id, target_id = await _instance_with_target(make_principal, make_client)
        _, token = await make_principal(Role.IAM_OWNER, instance_id)
        await admin.set_feature(context, instance_id, "actions", False)
        client = make_client(token)
        for rpc in RPCS:
            result = await call_rpc(client, transport, rpc, _request(rpc, target_id), version)
            assert_error(result, transport, 400, "failed_precondition", rpc)
            assert result.error_id == "Errors.Action.NotEnabled"

    async def test_disabled_feature_wins_over_a_malformed_body(
        self, context: ServiceContext, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """With the feature off a broken body is FailedPrecondition, not InvalidArgument."""
        principal, token = await make_principal(Role.IAM_OWNER)
        await admin.set_feature(context, principal.instance_id, "actions", False)
        result = await call_rpc(make_client(token), transport, "CreateTarget", {"name": 5})
        assert_error(result, transport, 400, "failed_precondition")

    async def test_disabled_feature_leaves_targets_untouched(
        self, context: ServiceContext, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Refused calls while the feature is off change nothing; after re-enabling the target is as before."""
        instance_id, target_id = await _instance_with_target(make_principal, make_client)
        _, token = await make_principal(Role.IAM_OWNER, instance_id)
        client = make_client(token)
        before = await call_rpc(client, transport, "GetTarget", {"id": target_id})
        await admin.set_feature(context, instance_id, "actions", False)
        for rpc in WRITE_RPCS:
            await call_rpc(client, transport, rpc, _request(rpc, target_id))
        await admin.set_feature(context, instance_id, "actions", True)
        assert await call_rpc(client, transport, "GetTarget", {"id": target_id}) == before

    async def test_disabling_one_instance_leaves_others_enabled(
        self, context: ServiceContext, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Turning the feature off in one instance does not affect another instance."""
        disabled, _ = await make_principal(Role.IAM_OWNER)
        _, token = await make_principal(Role.IAM_OWNER)
        await admin.set_feature(context, disabled.instance_id, "actions", False)
        result = await call_rpc(make_client(token), transport, "CreateTarget", VALID_CREATE)
        assert result.ok, result.body

    async def test_feature_off_applies_to_readers_too(
        self, context: ServiceContext, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A viewer listing targets in an instance with the feature off gets FailedPrecondition."""
        viewer, token = await make_principal(Role.IAM_OWNER_VIEWER)
        await admin.set_feature(context, viewer.instance_id, "actions", False)
        result = await call_rpc(make_client(token), transport, "ListTargets", {})
        assert_error(result, transport, 400, "failed_precondition")
