"""Roles, the permissions each grants, and the authenticated caller (principal)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """The roles a personal access token can carry."""

    IAM_OWNER = "IAM_OWNER"
    IAM_OWNER_VIEWER = "IAM_OWNER_VIEWER"
    ORG_OWNER = "ORG_OWNER"
    SYSTEM = "SYSTEM"


class Permission(enum.StrEnum):
    """Permissions checked by the Action API (docs/behaviour.md, API surface)."""

    TARGET_READ = "action.target.read"
    TARGET_WRITE = "action.target.write"
    TARGET_DELETE = "action.target.delete"
    EXECUTION_READ = "action.execution.read"
    EXECUTION_WRITE = "action.execution.write"
    AUTHENTICATED = "authenticated"
    # callout's extension: host applications run executions and register catalog entries.
    DISPATCH = "callout.dispatch"


_ALL = frozenset(Permission)
_READ = frozenset({Permission.TARGET_READ, Permission.EXECUTION_READ, Permission.AUTHENTICATED})

# Org-level roles hold no action permission at all, as in ZITADEL's defaults.yaml InternalAuthZ.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.IAM_OWNER: _ALL,
    Role.SYSTEM: _ALL,
    Role.IAM_OWNER_VIEWER: _READ,
    Role.ORG_OWNER: frozenset({Permission.AUTHENTICATED}),
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's user, instance, organization and role."""

    user_id: str
    instance_id: str
    org_id: str
    role: Role
    token_id: str
    actions_enabled: bool = True
    # The instance's routing version when the token was checked: cached routers compare against it.
    routing_version: int = 0

    def has(self, permission: Permission) -> bool:
        """Tell whether the role grants the permission."""
        return permission in ROLE_PERMISSIONS[self.role]

    @property
    def is_system(self) -> bool:
        """System tokens bypass executions so a broken target cannot lock the operator out."""
        return self.role is Role.SYSTEM
