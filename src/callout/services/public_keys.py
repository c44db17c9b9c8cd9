"""Target public key use cases: add, activate, deactivate, remove, list (docs/behaviour.md, Targets and Errors).

Note the error kinds ZITADEL uses here: an unknown target or key is FailedPrecondition (not
NotFound), removing an unknown key succeeds, and activating an already active key (or deactivating
an inactive one) is a successful no-op returning the previous change date.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from callout.domain.auth import Principal
from callout.domain.ids import new_id
from callout.domain.keys import PublicKey, PublicKeyQuery, fingerprint_of, validate_expiration
from callout.domain.queries import Page
from callout.engine.gojson import format_rfc3339_nano
from callout.errors import FailedPrecondition
from callout.services.context import ServiceContext
from callout.services.events import record_change
from callout.storage import executions as execution_store
from callout.storage import keys as store
from callout.storage import targets as target_store
from callout.storage.database import Connection
from callout.storage.instances import lock_routing

GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


async def add_public_key(
    context: ServiceContext, principal: Principal, target_id: str, pem: bytes, expiration: datetime | None
) -> PublicKey:
    """Store a new, inactive public key for the target."""
    fingerprint = fingerprint_of(pem)
    now = context.clock.now()
    validate_expiration(expiration, now)
    key = PublicKey(new_id(), principal.instance_id, target_id, pem, fingerprint, False, expiration, now, now)

    async def add(conn: Connection) -> PublicKey:
        await _require_target(conn, principal, target_id)
        await store.insert_public_key(conn, key)
        payload = key_added_payload(key)
        await record_change(conn, principal, ("target", key.target_id), "target.key.added", payload, now)
        return key

    return await context.database.write(add)


async def set_public_key_active(
    context: ServiceContext, principal: Principal, target_id: str, key_id: str, active: bool
) -> datetime:
    """Activate (the target's only active key) or deactivate a key; returns the change date."""
    now = context.clock.now()

    async def switch(conn: Connection) -> datetime:
        # Under the routing lock activations of one instance run one at a time, each deactivating
        # what the previous one activated; the partial unique index backs the rule up.
        await lock_routing(conn, principal.instance_id)
        key = await _require_key(conn, principal, target_id, key_id)
        if active and key.expired_at(now):
            raise FailedPrecondition("Errors.Target.PublicKeyExpired", "an expired key cannot be activated")
        if key.active == active:
            return key.change_date
        await store.set_active(conn, key, active, now)
        event_type = "target.key.activated" if active else "target.key.deactivated"
        await record_change(conn, principal, ("target", key.target_id), event_type, {"keyId": key.key_id}, now)
        await execution_store.bump_routing_version(conn, principal.instance_id)
        return now

    return await context.database.write(switch)


async def remove_public_key(context: ServiceContext, principal: Principal, target_id: str, key_id: str) -> datetime:
    """Remove an inactive key; unknown targets or keys succeed, the active key cannot be removed."""
    now = context.clock.now()

    async def remove(conn: Connection) -> datetime:
        # The row lock waits for a concurrent activation of this key, so an active key is never removed.
        key = await store.find_public_key(conn, principal.instance_id, target_id, key_id, for_update=True)
        if key is None:
            return now
        if key.active:
            raise FailedPrecondition("Errors.Target.PublicKeyActive", "deactivate the key before removing it")
        await store.delete_public_key(conn, key)
        payload = {"keyId": key.key_id}
        await record_change(conn, principal, ("target", key.target_id), "target.key.removed", payload, now)
        return now

    return await context.database.write(remove)


async def list_public_keys(
    context: ServiceContext, principal: Principal, target_id: str, query: PublicKeyQuery
) -> Page[PublicKey]:
    """One page of the target's keys; an unknown target has none."""
    query.pagination.applied_limit  # noqa: B018 - raises LimitExceeded before touching the database
    async with context.database.read() as conn:
        return await store.list_public_keys(conn, principal.instance_id, target_id, query)


async def _require_target(conn: Connection, principal: Principal, target_id: str) -> None:
    if await target_store.find_target(conn, principal.instance_id, target_id) is None:
        raise FailedPrecondition("Errors.Target.NotFound", "no target with this id")


async def _require_key(conn: Connection, principal: Principal, target_id: str, key_id: str) -> PublicKey:
    await _require_target(conn, principal, target_id)
    key = await store.find_public_key(conn, principal.instance_id, target_id, key_id, for_update=True)
    if key is None:
        raise FailedPrecondition("Errors.Target.NotFound", "no public key with this id on the target")
    return key


def key_added_payload(key: PublicKey) -> dict[str, object]:
    """The ``target.key.added`` payload, as ZITADEL's ``KeyAddedEvent`` marshals it.

    ``internal/repository/target/key.go``: ``publicKey`` is ``[]byte`` (standard base64 of the PEM)
    and ``expirationDate`` a ``time.Time``, which ``omitempty`` never drops: no expiry is Go's zero time.
    """
    expiration = key.expiration_date or GO_ZERO_TIME
    return {
        "keyId": key.key_id,
        "publicKey": base64.b64encode(key.public_key_pem).decode(),
        "fingerprint": key.fingerprint,
        "expirationDate": format_rfc3339_nano(expiration),
    }
