"""Tenancy (docs/security.md): a token of one instance never sees or changes another instance's targets, on any RPC."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from callout.domain.auth import Role
from tests.api_client import TRANSPORTS, call_rpc
from tests.conftest import MakeClient, MakePrincipal

THEIR_TARGET: dict[str, Any] = {
    "name": "Shared-Name",
    "restCall": {"interruptOnError": True},
    "timeout": "7s",
    "endpoint": "https://theirs.example.com/hook",
}


@dataclass(frozen=True)
class Tenants:
    """Two instances: ours (empty unless a test adds targets) and theirs, holding one target."""

    ours: httpx.AsyncClient
    theirs: httpx.AsyncClient
    their_target_id: str


async def _tenants(
    make_principal: MakePrincipal, make_client: MakeClient, transport: str, version: str = "v2"
) -> Tenants:
    _, our_token = await make_principal(Role.IAM_OWNER)
    _, their_token = await make_principal(Role.IAM_OWNER)
    theirs = make_client(their_token)
    created = await call_rpc(theirs, transport, "CreateTarget", THEIR_TARGET, version)
    assert created.ok, created.body
    return Tenants(make_client(our_token), theirs, str(created.body["id"]))


async def _their_target(tenants: Tenants, transport: str, version: str = "v2") -> dict[str, Any]:
    result = await call_rpc(tenants.theirs, transport, "GetTarget", {"id": tenants.their_target_id}, version)
    assert result.ok, result.body
    return dict(result.body["target"])


@pytest.mark.parametrize("transport", TRANSPORTS)
class TestTargetIsolation:
    async def test_create_with_the_name_of_another_instances_target_succeeds(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Names are unique per instance, so another instance's name (in any case) is free."""
        tenants = await _tenants(make_principal, make_client, transport)
        result = await call_rpc(tenants.ours, transport, "CreateTarget", {**THEIR_TARGET, "name": "shared-NAME"})
        assert result.ok, result.body
        assert result.body["id"] != tenants.their_target_id

    async def test_get_of_another_instances_target_is_not_found(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Reading another instance's target by id is NotFound, as if it did not exist."""
        tenants = await _tenants(make_principal, make_client, transport)
        result = await call_rpc(tenants.ours, transport, "GetTarget", {"id": tenants.their_target_id})
        assert (result.status, result.error_id) == (404, "Errors.Target.NotFound")

    async def test_update_of_another_instances_target_is_not_found(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Changing another instance's target by id is NotFound."""
        tenants = await _tenants(make_principal, make_client, transport)
        body = {"id": tenants.their_target_id, "name": "hijacked", "endpoint": "https://evil.example.com/"}
        result = await call_rpc(tenants.ours, transport, "UpdateTarget", body)
        assert (result.status, result.error_id) == (404, "Errors.Target.NotFound")

    async def test_update_of_another_instances_target_leaves_it_unchanged(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A refused update, including a key rotation, changes no field and no change date of the target."""
        tenants = await _tenants(make_principal, make_client, transport)
        before = await _their_target(tenants, transport)
        body = {
            "id": tenants.their_target_id,
            "name": "hijacked",
            "restAsync": {},
            "timeout": "1s",
            "endpoint": "https://evil.example.com/",
            "expirationSigningKey": "0s",
        }
        result = await call_rpc(tenants.ours, transport, "UpdateTarget", body)
        assert "signingKey" not in result.body
        assert await _their_target(tenants, transport) == before

    async def test_delete_of_another_instances_target_reports_nothing_deleted(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Deleting another instance's target succeeds like deleting an unknown id: no deletionDate."""
        tenants = await _tenants(make_principal, make_client, transport)
        result = await call_rpc(tenants.ours, transport, "DeleteTarget", {"id": tenants.their_target_id})
        assert result.ok, result.body
        assert "deletionDate" not in result.body

    async def test_delete_of_another_instances_target_leaves_it_in_place(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """After another instance's delete call the target is still there, unchanged."""
        tenants = await _tenants(make_principal, make_client, transport)
        before = await _their_target(tenants, transport)
        await call_rpc(tenants.ours, transport, "DeleteTarget", {"id": tenants.their_target_id})
        assert await _their_target(tenants, transport) == before

    async def test_list_shows_only_the_callers_targets(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Listing without filters returns and counts only the caller's instance's targets."""
        tenants = await _tenants(make_principal, make_client, transport)
        created = await call_rpc(tenants.ours, transport, "CreateTarget", {**THEIR_TARGET, "name": "ours"})
        result = await call_rpc(tenants.ours, transport, "ListTargets", {})
        assert [t["id"] for t in result.body["targets"]] == [created.body["id"]]
        assert result.body["pagination"]["totalResult"] == "1"

    async def test_list_by_ids_of_another_instance_is_empty(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """An id filter naming another instance's targets matches nothing."""
        tenants = await _tenants(make_principal, make_client, transport)
        body = {"filters": [{"inTargetIdsFilter": {"targetIds": [tenants.their_target_id]}}]}
        result = await call_rpc(tenants.ours, transport, "ListTargets", body)
        assert result.ok, result.body
        assert "targets" not in result.body
        assert "totalResult" not in result.body["pagination"]

    async def test_list_by_name_of_another_instances_target_is_empty(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A name filter matching another instance's target's name matches nothing."""
        tenants = await _tenants(make_principal, make_client, transport)
        name_filter = {"targetName": "shared", "method": "TEXT_FILTER_METHOD_STARTS_WITH_IGNORE_CASE"}
        result = await call_rpc(
            tenants.ours, transport, "ListTargets", {"filters": [{"targetNameFilter": name_filter}]}
        )
        assert result.ok, result.body
        assert "targets" not in result.body

    async def test_rename_to_the_name_of_another_instances_target_succeeds(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Renaming one's own target to a name used in another instance is allowed."""
        tenants = await _tenants(make_principal, make_client, transport)
        created = await call_rpc(tenants.ours, transport, "CreateTarget", {**THEIR_TARGET, "name": "ours"})
        body = {"id": created.body["id"], "name": THEIR_TARGET["name"]}
        result = await call_rpc(tenants.ours, transport, "UpdateTarget", body)
        assert result.ok, result.body

    async def test_viewer_cannot_read_another_instances_target(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """A read-only token of one instance gets NotFound for another instance's target."""
        tenants = await _tenants(make_principal, make_client, transport)
        _, viewer_token = await make_principal(Role.IAM_OWNER_VIEWER)
        result = await call_rpc(make_client(viewer_token), transport, "GetTarget", {"id": tenants.their_target_id})
        assert (result.status, result.error_id) == (404, "Errors.Target.NotFound")


@pytest.mark.parametrize("transport", TRANSPORTS)
class TestV2betaIsolation:
    async def test_v2beta_rpcs_never_reach_another_instances_target(
        self, transport: str, make_principal: MakePrincipal, make_client: MakeClient
    ) -> None:
        """Over v2beta, Get and Update are NotFound, Delete deletes nothing and List shows nothing."""
        tenants = await _tenants(make_principal, make_client, transport, "v2beta")
        before = await _their_target(tenants, transport, "v2beta")
        target = {"id": tenants.their_target_id}
        got = await call_rpc(tenants.ours, transport, "GetTarget", target, "v2beta")
        updated = await call_rpc(tenants.ours, transport, "UpdateTarget", {**target, "name": "x"}, "v2beta")
        deleted = await call_rpc(tenants.ours, transport, "DeleteTarget", target, "v2beta")
        listed = await call_rpc(
            tenants.ours,
            transport,
            "ListTargets",
            {"filters": [{"inTargetIdsFilter": {"targetIds": [target["id"]]}}]},
            "v2beta",
        )
        assert (got.status, updated.status, deleted.status, deleted.body, "targets" in listed.body) == (
            404,
            404,
            200,
            {},
            False,
        )
        assert await _their_target(tenants, transport, "v2beta") == before
