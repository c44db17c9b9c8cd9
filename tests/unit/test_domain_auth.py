"""Roles and the Action API permissions they grant (docs/behaviour.md, API surface; docs/security.md)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callout.domain.auth import ROLE_PERMISSIONS, Permission, Principal, Role

ACTION_PERMISSIONS = frozenset(permission for permission in Permission if permission.value.startswith("action."))
READ_PERMISSIONS = frozenset({Permission.TARGET_READ, Permission.EXECUTION_READ})
MUTATING_PERMISSIONS = frozenset({Permission.TARGET_WRITE, Permission.TARGET_DELETE, Permission.EXECUTION_WRITE})


def _principal(role: Role) -> Principal:
    return Principal(user_id="u", instance_id="i", org_id="o", role=role, token_id="t")


class TestPermissionTable:
    def test_documented_permissions_exist(self) -> None:
        """The permission names are the ones docs/behaviour.md lists."""
        assert {permission.value for permission in ACTION_PERMISSIONS} == {
            "action.target.read",
            "action.target.write",
            "action.target.delete",
            "action.execution.read",
            "action.execution.write",
        }

    def test_every_role_has_an_entry(self) -> None:
        """Every role appears in the permission table."""
        assert set(ROLE_PERMISSIONS) == set(Role)

    @pytest.mark.parametrize("permission", list(Permission))
    def test_iam_owner_has_everything(self, permission: Permission) -> None:
        """IAM_OWNER holds every permission."""
        assert _principal(Role.IAM_OWNER).has(permission)

    @pytest.mark.parametrize("permission", sorted(READ_PERMISSIONS | {Permission.AUTHENTICATED}))
    def test_viewer_can_read(self, permission: Permission) -> None:
        """IAM_OWNER_VIEWER holds the read permissions."""
        assert _principal(Role.IAM_OWNER_VIEWER).has(permission)

    @pytest.mark.parametrize("permission", sorted(MUTATING_PERMISSIONS))
    def test_viewer_cannot_change(self, permission: Permission) -> None:
        """IAM_OWNER_VIEWER holds no write or delete permission."""
        assert not _principal(Role.IAM_OWNER_VIEWER).has(permission)

    @pytest.mark.parametrize("permission", sorted(ACTION_PERMISSIONS))
    def test_org_owner_has_no_action_permission(self, permission: Permission) -> None:
        """ORG_OWNER holds none of the action.* permissions."""
        assert not _principal(Role.ORG_OWNER).has(permission)

    def test_org_owner_is_authenticated(self) -> None:
        """ORG_OWNER may still call the RPCs open to any authenticated caller."""
        assert _principal(Role.ORG_OWNER).has(Permission.AUTHENTICATED)

    @pytest.mark.parametrize("permission", list(Permission))
    def test_system_has_everything(self, permission: Permission) -> None:
        """SYSTEM holds every permission."""
        assert _principal(Role.SYSTEM).has(permission)


class TestIsSystem:
    def test_system_is_system(self) -> None:
        """A SYSTEM principal is a system caller."""
        assert _principal(Role.SYSTEM).is_system

    @pytest.mark.parametrize("role", [Role.IAM_OWNER, Role.IAM_OWNER_VIEWER, Role.ORG_OWNER])
    def test_other_roles_are_not_system(self, role: Role) -> None:
        """No other role bypasses executions."""
        assert not _principal(role).is_system


class TestPermissionProperties:
    @given(st.sampled_from(Role), st.sampled_from(Permission))
    def test_has_follows_the_table(self, role: Role, permission: Permission) -> None:
        """has() answers exactly what the role's table entry says."""
        assert _principal(role).has(permission) is (permission in ROLE_PERMISSIONS[role])

    @given(st.sampled_from(Role), st.sampled_from(sorted(MUTATING_PERMISSIONS)))
    def test_only_owners_and_system_may_change(self, role: Role, permission: Permission) -> None:
        """Only IAM_OWNER and SYSTEM hold write or delete permissions."""
        assert _principal(role).has(permission) is (role in {Role.IAM_OWNER, Role.SYSTEM})

    @given(st.sampled_from(Role), st.sampled_from(Permission))
    def test_every_permission_implies_authenticated(self, role: Role, permission: Permission) -> None:
        """A role that holds any permission also counts as authenticated."""
        if _principal(role).has(permission):
            assert _principal(role).has(Permission.AUTHENTICATED)

    @given(st.sampled_from(Role), st.sampled_from(Permission), st.booleans())
    def test_feature_flag_does_not_change_permissions(self, role: Role, permission: Permission, enabled: bool) -> None:
        """Whether actions are enabled does not alter what the role grants."""
        principal = Principal(
            user_id="u", instance_id="i", org_id="o", role=role, token_id="t", actions_enabled=enabled
        )
        assert principal.has(permission) is _principal(role).has(permission)
