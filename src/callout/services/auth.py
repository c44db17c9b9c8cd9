"""Authentication of bearer tokens and the authorization checks every RPC makes."""

from __future__ import annotations

from callout.domain.auth import Permission, Principal
from callout.domain.instances import TokenRecord, hash_token, is_feature_enabled
from callout.errors import FailedPrecondition, PermissionDenied, Unauthenticated
from callout.services.context import ServiceContext
from callout.storage import instances as instance_store


async def authenticate(context: ServiceContext, authorization: str | None) -> Principal:
    """Resolve an ``Authorization: Bearer <token>`` header to the calling principal."""
    token = _bearer_token(authorization)
    async with context.database.read() as conn:
        found = await instance_store.find_live_token_with_instance(conn, hash_token(token))
    if found is None:
        raise Unauthenticated("Errors.Token.Invalid", "the token is unknown or revoked")
    record, features, routing_version = found
    return principal_of(record, features, routing_version)


def principal_of(record: TokenRecord, features: dict[str, bool], routing_version: int) -> Principal:
    """Who a live token names, with its instance's Actions feature and routing version."""
    return Principal(
        user_id=record.user_id,
        instance_id=record.instance_id,
        org_id=record.org_id,
        role=record.role,
        token_id=record.id,
        actions_enabled=is_feature_enabled(features, "actions"),
        routing_version=routing_version,
    )


def _bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Errors.Token.Missing", "send Authorization: Bearer <token>")
    return token.strip()


def authorize(principal: Principal, permission: Permission) -> None:
    """Raise unless the principal may use an Action RPC needing this permission."""
    if not principal.has(permission):
        raise PermissionDenied("Errors.Permission.Denied", f"missing permission {permission.value}")
    if not principal.actions_enabled:
        raise FailedPrecondition("Errors.Action.NotEnabled", "the actions feature is disabled")
