"""Target use cases: create, update (with key rotation), delete, get and list.

See docs/behaviour.md, Targets; docs/differences.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from callout.domain import targets as rules
from callout.domain.auth import Principal
from callout.domain.ids import new_id
from callout.domain.queries import Page, TargetQuery
from callout.domain.targets import Target, TargetChanges, TargetSpec
from callout.errors import InvalidArgument, NotFound
from callout.services.context import ServiceContext
from callout.services.egress import check_endpoint
from callout.services.events import record_change
from callout.services.sealing import seal, unseal
from callout.storage import executions as execution_store
from callout.storage import targets as store
from callout.storage.database import Connection
from callout.storage.instances import lock_routing

# How long a rotated-out signing key may stay valid; receivers roll over within hours, not years.
MAX_SIGNING_KEY_GRACE = timedelta(days=365)


@dataclass(frozen=True)
class UpdateResult:
    """What UpdateTarget reports: the change date and, after a rotation only, the new key."""

    change_date: datetime
    signing_key: str | None = None


async def create_target(
    context: ServiceContext, principal: Principal, spec: TargetSpec, max_endpoint_length: int = 2048
) -> tuple[Target, str]:
    """Validate and store a new target with a fresh signing key; return both."""
    rules.validate_spec(spec, max_endpoint_length)
    assert spec.timeout is not None  # validate_spec guarantees it
    await check_endpoint(context.egress, context.resolver, spec.endpoint)
    now = context.clock.now()
    target = Target(
        id=new_id(),
        instance_id=principal.instance_id,
        name=spec.name,
        target_type=spec.target_type,
        interrupt_on_error=rules.stops_calls(spec.interrupt_on_error, spec.target_type),
        timeout=spec.timeout,
        endpoint=spec.endpoint,
        payload_type=spec.payload_type,
        creation_date=now,
        change_date=now,
    )
    signing_key = rules.generate_signing_key()

    async def insert(conn: Connection) -> None:
        await store.insert_target(conn, target)
        await _store_signing_key(context, conn, target, signing_key, now)
        payload = rules.target_event_payload(target)
        await record_change(conn, principal, ("target", target.id), "target.added", payload, now)

    await context.database.write(insert)
    return target, signing_key


async def update_target(
    context: ServiceContext,
    principal: Principal,
    target_id: str,
    changes: TargetChanges,
    max_endpoint_length: int = 2048,
) -> UpdateResult:
    """Apply the changes; unchanged input succeeds with the previous change date and no event."""
    _validate_changes(changes, max_endpoint_length)
    if changes.endpoint is not None:
        await check_endpoint(context.egress, context.resolver, changes.endpoint)
    now = context.clock.now()

    async def update(conn: Connection) -> UpdateResult:
        await lock_routing(conn, principal.instance_id)
        current = await store.find_target(conn, principal.instance_id, target_id)
        if current is None:
            raise NotFound("Errors.Target.NotFound", "no target with this id")
        updated = rules.apply_changes(current, changes)
        difference = rules.changed_fields(current, updated)
        rotation = changes.expiration_signing_key
        if not difference and rotation is None:
            return UpdateResult(current.change_date)
        updated = replace(updated, change_date=now)
        await store.update_target(conn, updated)
        await execution_store.bump_routing_version(conn, principal.instance_id)
        new_key = await _rotate_key(context, conn, updated, rotation, now)
        if new_key is not None:
            difference = rules.with_key_rotated(difference)
        await record_change(conn, principal, ("target", updated.id), "target.changed", difference, now)
        return UpdateResult(now, new_key)

    return await context.database.write(update)


async def delete_target(context: ServiceContext, principal: Principal, target_id: str) -> datetime | None:
    """Delete a target; unknown ids succeed without a date, repeated deletes report the first date."""
    now = context.clock.now()

    async def delete(conn: Connection) -> datetime | None:
        await lock_routing(conn, principal.instance_id)
        target = await store.find_target(conn, principal.instance_id, target_id, include_deleted=True)
        if target is None:
            return None
        if target.deletion_date is not None:
            return target.deletion_date
        await store.mark_target_deleted(conn, target, now)
        await execution_store.remove_target_everywhere(conn, principal.instance_id, target.id)
        await execution_store.bump_routing_version(conn, principal.instance_id)
        # ZITADEL's RemovedEvent has no exported field: its payload is an empty object.
        await record_change(conn, principal, ("target", target.id), "target.removed", {}, now)
        return now

    return await context.database.write(delete)


async def get_target(context: ServiceContext, principal: Principal, target_id: str) -> Target:
    """Return one live target of the caller's instance."""
    async with context.database.read() as conn:
        target = await store.find_target(conn, principal.instance_id, target_id)
    if target is None:
        raise NotFound("Errors.Target.NotFound", "no target with this id")
    return target


async def list_targets(
    context: ServiceContext, principal: Principal, query: TargetQuery, *, with_total: bool = True
) -> Page[Target]:
    """Return one page of the caller's instance's targets; see the store for ``with_total``."""
    query.pagination.applied_limit  # noqa: B018 - raises LimitExceeded before touching the database
    async with context.database.read() as conn:
        return await store.list_targets(conn, principal.instance_id, query, with_total=with_total)


async def valid_signing_keys(context: ServiceContext, target: Target) -> list[str]:
    """Return the decrypted keys a call to this target is signed with, newest first."""
    async with context.database.read() as conn:
        sealed = await store.valid_signing_secrets(conn, target.id, context.clock.now())
    return [unseal(context.secret_box, value) for value in sealed]


def _validate_changes(changes: TargetChanges, max_endpoint_length: int) -> None:
    if changes.name is not None:
        rules.validate_name(changes.name)
    if changes.timeout is not None:
        rules.validate_timeout(changes.timeout)
    if changes.endpoint is not None:
        rules.validate_endpoint(changes.endpoint, max_endpoint_length)
    grace = changes.expiration_signing_key
    if grace is not None and not timedelta(0) <= grace <= MAX_SIGNING_KEY_GRACE:
        raise InvalidArgument("Errors.Target.Invalid", "expirationSigningKey must be between 0s and 31536000s")


async def _rotate_key(
    context: ServiceContext,
    conn: Connection,
    target: Target,
    grace: timedelta | None,
    now: datetime,
) -> str | None:
    # docs/differences.md: unlike ZITADEL, a positive grace keeps the old key valid (and signing) that long.
    if grace is None:
        return None
    await store.expire_signing_keys(conn, target.id, now + grace)
    key = rules.generate_signing_key()
    await _store_signing_key(context, conn, target, key, now)
    return key


async def _store_signing_key(
    context: ServiceContext, conn: Connection, target: Target, key: str, now: datetime
) -> None:
    await store.insert_signing_key(conn, new_id(), target, await seal(context.secret_box, conn, key), now)
